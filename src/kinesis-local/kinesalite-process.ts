// Entry of the child process that runs kinesalite for `serve`. It reports the port it bound and
// exits when its parent goes away, even on SIGKILL (the IPC channel closes).

import { listenKinesalite } from './kinesalite-server';

export interface ChildMessage {
  readonly port?: number;
  readonly error?: string;
}

const send = (message: ChildMessage) => process.send?.(message);
process.on('disconnect', () => process.exit(0));
listenKinesalite(Number(process.argv[2] ?? 4567), process.argv[3] ?? '127.0.0.1').then(
  ({ port }) => send({ port }),
  (err: Error) => {
    send({ error: err.message });
    process.exit(1);
  },
);
