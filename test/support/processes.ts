// Runs the real CLI as child processes: the gateway, the local Kinesis and tap.

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { tempDir } from './temp-dir';

export const CLI = path.join(__dirname, '..', '..', 'src', 'cli.js');
const START_TIMEOUT_MS = 30_000;

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunningProcess {
  readonly child: ChildProcess;
  readonly logs: LogLine[];
  readonly stderr: string[];
  readonly exited: Promise<Exit>;
  /** Resolves with the first log line the predicate accepts (already seen or yet to come). */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  kill(signal?: NodeJS.Signals): Promise<Exit>;
}

/** `entry`: the CLI, or a test's stand-in for it (serve-with-crashing-workers.js). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, entry = CLI): RunningProcess {
  const child = spawn(process.execPath, [entry, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogLine[] = [];
  const stderr: string[] = [];
  const watchers: { predicate: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text);
    } catch {
      line = { level: 30, msg: text };
    }
    logs.push(line);
    for (const watcher of watchers.filter((w) => w.predicate(line))) {
      watchers.splice(watchers.indexOf(watcher), 1);
      watcher.resolve(line);
    }
  });
  createInterface({ input: child.stderr! }).on('line', (text) => stderr.push(text));
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const describe = () => `logs:\n${logs.map((l) => JSON.stringify(l)).join('\n')}\nstderr:\n${stderr.join('\n')}`;
  return {
    child,
    logs,
    stderr,
    exited,
    waitForLog(predicate, timeoutMs = START_TIMEOUT_MS) {
      const seen = logs.find(predicate);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms\n${describe()}`)), timeoutMs);
        exited.then((exit) => reject(new Error(`process exited (${JSON.stringify(exit)}) before the expected log line\n${describe()}`)));
        watchers.push({
          predicate,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
      });
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export interface Gateway extends RunningProcess {
  readonly port: number;
  readonly adminPort: number;
  readonly kinesisEndpoint: string;
  url(route: string): string;
  adminUrl(route: string): string;
}

/** Starts `serve` on free ports and resolves once it is ready. */
export async function startGateway(args: string[] = [], env: NodeJS.ProcessEnv = {}, entry = CLI): Promise<Gateway> {
  // Dead letters go to a file of the test's own, never into the working directory.
  const deadLetters = args.includes('--dead-letter-file') ? [] : ['--dead-letter-file', path.join(tempDir('gateway-'), 'dead-letter.ndjson')];
  const running = runCli(
    ['serve', '--port', '0', '--admin-port', '0', '--local-kinesis-port', '0', '--host', '127.0.0.1', '--admin-host', '127.0.0.1', ...deadLetters, ...args],
    env,
    entry,
  );
  const listening = await running.waitForLog((l) => typeof l.port === 'number');
  const ready = await running.waitForLog((l) => / ready$/.test(l.msg));
  const port = listening.port as number;
  const adminPort = listening.adminPort as number;
  return {
    ...running,
    port,
    adminPort,
    kinesisEndpoint: ready.kinesisEndpoint as string,
    url: (route) => `http://127.0.0.1:${port}${route}`,
    adminUrl: (route) => `http://127.0.0.1:${adminPort}${route}`,
  };
}

export interface LocalKinesisProcess extends RunningProcess {
  readonly endpoint: string;
}

/** Runs `local-kinesis` on a free port: a Kinesis that outlives the gateways of a test. */
export async function startLocalKinesis(stream: string, shards = 2): Promise<LocalKinesisProcess> {
  const running = runCli(['local-kinesis', '--port', '0', '--stream', stream, '--shards', String(shards)]);
  const line = await running.waitForLog((l) => l.msg.startsWith('http://'));
  return { ...running, endpoint: line.msg };
}

export interface Envelope {
  id: string;
  receivedAt: number;
  ip: string;
  ua: string;
  path: string;
  event: Record<string, unknown>;
}

/** Reads a whole stream with `tap`, which exits after idleExitSeconds without new records. */
export async function tapStream(endpoint: string, stream: string, idleExitSeconds = 2): Promise<Envelope[]> {
  const child = spawn(process.execPath, [CLI, 'tap', '--endpoint', endpoint, '--stream', stream, '--idle-exit', String(idleExitSeconds)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks: Buffer[] = [];
  const errors: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => errors.push(chunk));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`tap exited with ${code}: ${Buffer.concat(errors).toString()}`);
  return Buffer.concat(chunks)
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

export async function post(url: string, body: string | Uint8Array, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<Answer> {
  const response = await fetch(url, { method: 'POST', body, headers });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : {} };
}
