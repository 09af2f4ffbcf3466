// Starts the embedded local Kinesis (kinesalite) in a child process.

import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { ChildMessage } from './kinesalite-process';

export interface LocalKinesis {
  readonly endpoint: string;
  readonly port: number;
  stop(): void;
}

export async function startLocalKinesis(port: number, host = '127.0.0.1'): Promise<LocalKinesis> {
  const child: ChildProcess = fork(path.join(__dirname, 'kinesalite-process.js'), [String(port), host], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const boundPort = await new Promise<number>((resolve, reject) => {
    child.once('message', (message: ChildMessage) => {
      if (message.port !== undefined) resolve(message.port);
      else reject(new Error(`the local Kinesis did not start: ${message.error}`));
    });
    child.once('exit', (code) => reject(new Error(`the local Kinesis exited with code ${code} before listening`)));
  });
  child.removeAllListeners('exit');
  child.channel?.unref();
  child.unref();
  return {
    endpoint: `http://${host}:${boundPort}`,
    port: boundPort,
    stop: () => {
      child.kill();
    },
  };
}
