// Runs kinesalite in this process. `serve` does it in a child process (kinesalite-process.ts) so that
// the emulator never shares the gateway's event loop; `local-kinesis` is its own process already.
//
// kinesalite throws from a request's 'error' listener (`req.on('error', (err) => { throw err })`),
// so a client that resets its connection mid-request (a producer's timeout, a frozen emulator
// thawed with sockets its clients gave up on) would kill the whole emulator with an uncaught
// ECONNRESET. Its handler is wrapped: a request error only ends that request's socket.

import kinesalite from 'kinesalite';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StartupError } from '../errors';

export interface KinesaliteServer {
  readonly server: Server;
  readonly port: number;
}

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/** Replaces kinesalite's throwing 'error' listener on each request with one that drops the connection. */
function surviveClientErrors(server: Server): void {
  const handlers = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    for (const handler of handlers) handler(req, res);
    req.removeAllListeners('error');
    req.on('error', () => req.socket.destroy());
    res.on('error', () => req.socket.destroy());
  });
  // A malformed request or a socket error before a request was parsed: drop that connection only.
  server.on('clientError', (_err, socket) => socket.destroy());
}

export function listenKinesalite(port: number, host: string): Promise<KinesaliteServer> {
  // Short state transitions keep start-up quick while still exercising the wait for ACTIVE.
  const server = kinesalite({ createStreamMs: 50, deleteStreamMs: 50, updateStreamMs: 50, shardLimit: 1000 });
  surviveClientErrors(server);
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new StartupError('local_kinesis_failed', err.code === 'EADDRINUSE' ? `port ${port} is already in use` : err.message)),
    );
    server.listen(port, host, () => resolve({ server, port: (server.address() as AddressInfo).port }));
  });
}
