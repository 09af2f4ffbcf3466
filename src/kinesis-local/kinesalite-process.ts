// Entry of the child process that runs kinesalite, so that the emulator never shares the gateway's
// event loop. It reports the port it bound and exits when its parent goes away, even on SIGKILL
// (the IPC channel closes).

import kinesalite from 'kinesalite';
import type { AddressInfo } from 'node:net';

export interface ChildMessage {
  readonly port?: number;
  readonly error?: string;
}

const requestedPort = Number(process.argv[2] ?? 4567);
const host = process.argv[3] ?? '127.0.0.1';
// Short state transitions keep start-up quick while still exercising the wait for ACTIVE.
const server = kinesalite({ createStreamMs: 50, deleteStreamMs: 50, updateStreamMs: 50, shardLimit: 1000 });
const send = (message: ChildMessage) => process.send?.(message);

server.on('error', (err: NodeJS.ErrnoException) => {
  send({ error: err.code === 'EADDRINUSE' ? `port ${requestedPort} is already in use` : err.message });
  process.exit(1);
});
server.listen(requestedPort, host, () => send({ port: (server.address() as AddressInfo).port }));
process.on('disconnect', () => process.exit(0));
