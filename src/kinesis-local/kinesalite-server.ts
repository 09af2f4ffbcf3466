// Runs kinesalite in this process. `serve` does it in a child process (kinesalite-process.ts) so that
// the emulator never shares the gateway's event loop; `local-kinesis` is its own process already.

import kinesalite from 'kinesalite';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface KinesaliteServer {
  readonly server: Server;
  readonly port: number;
}

export function listenKinesalite(port: number, host: string): Promise<KinesaliteServer> {
  // Short state transitions keep start-up quick while still exercising the wait for ACTIVE.
  const server = kinesalite({ createStreamMs: 50, deleteStreamMs: 50, updateStreamMs: 50, shardLimit: 1000 });
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(err.code === 'EADDRINUSE' ? `port ${port} is already in use` : err.message)));
    server.listen(port, host, () => resolve({ server, port: (server.address() as AddressInfo).port }));
  });
}
