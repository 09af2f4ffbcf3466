// Starts the embedded local Kinesis (kinesalite) in a child process, and starts it again when it
// dies. The emulator keeps its streams in memory, so a restart loses the stream's contents (what
// was already confirmed), never the gateway's buffer: events not yet confirmed are still in the
// ring or the spool, and their PutRecords calls are retried until the new child answers.

import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { StartupError } from '../errors';
import type { Logger } from '../log';
import type { ChildMessage } from './kinesalite-process';

export interface LocalKinesis {
  readonly endpoint: string;
  readonly port: number;
  /** Times the child was started again after it died. */
  readonly restarts: number;
  stop(): void;
}

export interface LocalKinesisOptions {
  readonly host?: string;
  /** Without a logger, a child that dies is not restarted. */
  readonly log?: Logger;
  /** Called after a restart, once the new child listens: create the stream again. */
  readonly onRestarted?: (endpoint: string) => Promise<void>;
}

const RESTART_DELAY_MS = 500;

function forkChild(port: number, host: string): { child: ChildProcess; listening: Promise<number> } {
  const child = fork(path.join(__dirname, 'kinesalite-process.js'), [String(port), host], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const listening = new Promise<number>((resolve, reject) => {
    child.once('message', (message: ChildMessage) => {
      if (message.port !== undefined) resolve(message.port);
      else reject(new StartupError('local_kinesis_failed', `the local Kinesis did not start: ${message.error}`));
    });
    child.once('exit', (code, signal) =>
      reject(new StartupError('local_kinesis_failed', `the local Kinesis exited with ${signal ?? `code ${code}`} before listening`)),
    );
  });
  return { child, listening };
}

export async function startLocalKinesis(port: number, options: LocalKinesisOptions = {}): Promise<LocalKinesis> {
  const host = options.host ?? '127.0.0.1';
  const first = forkChild(port, host);
  const boundPort = await first.listening;
  const endpoint = `http://${host}:${boundPort}`;
  let child = first.child;
  let stopped = false;
  let restarts = 0;

  const supervise = (running: ChildProcess) => {
    running.removeAllListeners('exit');
    running.channel?.unref();
    running.unref();
    running.once('exit', (code, signal) => {
      if (stopped || !options.log) return;
      const log = options.log;
      log.error(
        { code, signal, endpoint },
        `the embedded local Kinesis exited (${signal ?? `code ${code}`}); restarting it at ${endpoint}. Its streams were in memory: ` +
          'what the stream held is lost. The gateway buffer is not: unconfirmed events are retried until the new one answers',
      );
      void restart(log);
    });
  };

  const restart = async (log: Logger): Promise<void> => {
    while (!stopped) {
      await new Promise((resolve) => setTimeout(resolve, RESTART_DELAY_MS).unref());
      if (stopped) return;
      const next = forkChild(boundPort, host);
      child = next.child;
      try {
        await next.listening;
      } catch (err) {
        log.error({ err: (err as Error).message, endpoint }, 'the embedded local Kinesis did not start again; retrying');
        continue;
      }
      restarts++;
      supervise(next.child);
      await options.onRestarted?.(endpoint).catch((err: Error) => log.error({ err: err.message }, 'cannot create the stream on the restarted local Kinesis'));
      log.info({ endpoint, restarts }, `the embedded local Kinesis is back at ${endpoint}`);
      return;
    }
  };

  supervise(child);
  return {
    endpoint,
    port: boundPort,
    get restarts() {
      return restarts;
    },
    stop: () => {
      stopped = true;
      child.kill();
    },
  };
}
