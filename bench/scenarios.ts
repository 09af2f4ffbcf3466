// What the benchmark sends, to which server, and how: the events, the servers under load (targets)
// and the scenarios that pair them.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { waitUntilShipped } from '../test/support/load';
import { startGateway, startLocalKinesis } from '../test/support/processes';
import { tempDir } from '../test/support/temp-dir';
import { descendantsOf } from './cpu';

const LOAD_BALANCER_HEADERS_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36';

/** 160 bytes, a typical page view. */
export const EVENT = JSON.stringify({
  type: 'page_view',
  url: 'https://example.com/products/123?ref=home',
  referrer: 'https://example.com/',
  screen: '1920x1080',
  session: 'b2c1f0a4e5d6',
});
const BATCH = Array.from({ length: 100 }, () => EVENT).join('\n');
/** An analytics-next track call as it sends it (text/plain, the write key in the body): about 700 bytes. */
export const SEGMENT_TRACK = JSON.stringify({
  timestamp: '2026-11-27T16:00:00.000Z',
  integrations: {},
  type: 'track',
  event: 'Product Viewed',
  properties: { product_id: '123', price: 12.5 },
  messageId: 'ajs-next-1764259200000-5c1ea4b0-7f7e-4b0e-9c5b-8f3d4d0b8e2a',
  anonymousId: '8e2f9d7a-3d2c-4b6e-9a8f-1c2d3e4f5a6b',
  userId: null,
  writeKey: 'bench-write-key',
  sentAt: '2026-11-27T16:00:00.010Z',
  _metadata: { bundled: ['Segment.io'], unbundled: [], bundledIds: [] },
  context: {
    page: {
      path: '/products/123',
      referrer: 'https://example.com/',
      search: '?ref=home',
      title: 'Product 123',
      url: 'https://example.com/products/123?ref=home',
    },
    userAgent: LOAD_BALANCER_HEADERS_UA,
    locale: 'en-US',
    library: { name: 'analytics.js', version: 'npm:next-1.84.3' },
  },
});
/** What analytics-node posts to /v1/batch: 20 calls, the batch's writeKey and sentAt. */
const SEGMENT_BATCH = JSON.stringify({
  batch: Array.from({ length: 20 }, (_, i) => ({ ...JSON.parse(SEGMENT_TRACK), writeKey: undefined, messageId: `node-next-1764259200000-${i}` })),
  writeKey: 'bench-write-key',
  sentAt: '2026-11-27T16:00:00.010Z',
});
const PIXEL_PATH = '/v1/pixel.gif?e=page_view&url=%2Fproducts%2F123&ref=home&screen=1920x1080';

/**
 * What an ALB adds to every request it forwards (and a browser's User-Agent), sent to every server
 * alike. The gateway runs as behind an ELB (--trust-proxy-hops 1, deploy/settings.json): the client
 * is read from X-Forwarded-For, not from the socket.
 */
export const LOAD_BALANCER_HEADERS: Readonly<Record<string, string>> = {
  'x-forwarded-for': '203.0.113.7',
  'x-forwarded-proto': 'https',
  'x-forwarded-port': '443',
  'x-amzn-trace-id': 'Root=1-67891233-abcdef012345678912345678',
  'user-agent': LOAD_BALANCER_HEADERS_UA,
};

/** Browsers and load balancers send one request at a time per connection. */
export const CONNECTIONS = 64;
/** The secondary figure's pipelining depth. */
export const PIPELINED = 4;
/** The shards of every stream: the gateway's pacer holds each to Kinesis's 1 MiB/s. */
const SHARDS = 16;

export interface Target {
  /** Base URL of the server under load. */
  readonly url: string;
  /** The server process: its main thread answers requests. */
  readonly pid: number;
  /** The local Kinesis processes it ships to (the gateway's embedded child, or a process of its own). */
  localKinesisPids(): number[];
  /** Where its events land, to verify delivery; none for the bare endpoint. */
  readonly stream?: { readonly endpoint: string; readonly name: string; drained(): Promise<boolean> };
  /** The gateway's /metrics. */
  readonly metricsUrl?: string;
  /** What the server said about itself when it started (the bare endpoint: its uWS build). */
  readonly about?: Record<string, unknown>;
  stop(): Promise<void>;
}

export interface Scenario {
  readonly name: string;
  readonly method: 'POST' | 'GET';
  readonly path: string;
  readonly body?: string;
  readonly contentType?: string;
  readonly eventsPerRequest: number;
  readonly pipelining: number;
  /** Headline (unpipelined, as browsers and load balancers send) or secondary (pipelined). */
  readonly headline: boolean;
  start(stream: string): Promise<Target>;
}

/** Starts a bench/ server that prints {"port":…} on its first line. */
export async function startChild(script: string, args: string[]): Promise<{ port: number; pid: number; line: Record<string, unknown>; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [path.join(__dirname, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const line = await Promise.race([
    new Promise<string>((resolve) => createInterface({ input: child.stdout }).once('line', resolve)),
    exited.then(() => Promise.reject(new Error(`${script} exited before it listened`))),
  ]);
  const parsed = JSON.parse(line) as Record<string, unknown>;
  return {
    port: Number(parsed.port),
    pid: child.pid!,
    line: parsed,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill();
      await exited;
    },
  };
}

async function startBare(): Promise<Target> {
  const child = await startChild('bare-server.js', []);
  return { url: `http://127.0.0.1:${child.port}`, pid: child.pid, localKinesisPids: () => [], about: { uws: child.line.uws }, stop: child.stop };
}

/** A server of bench/ that ships to a local Kinesis of its own process. */
async function startWithOwnKinesis(script: string, stream: string, drained: (url: string) => Promise<boolean>): Promise<Target> {
  const kinesis = await startLocalKinesis(stream, SHARDS);
  const child = await startChild(script, [kinesis.endpoint, stream]);
  const url = `http://127.0.0.1:${child.port}`;
  const kinesisPid = kinesis.child.pid!;
  return {
    url,
    pid: child.pid,
    localKinesisPids: () => [kinesisPid, ...descendantsOf(kinesisPid)],
    stream: { endpoint: kinesis.endpoint, name: stream, drained: () => drained(url) },
    stop: async () => {
      await child.stop();
      await kinesis.kill();
    },
  };
}

/** The fastify peer has shipped everything once its /pending says 0. */
async function fastifyDrained(url: string): Promise<boolean> {
  const deadline = Date.now() + 600_000;
  while (Date.now() < deadline) {
    const { pending } = (await (await fetch(`${url}/pending`)).json()) as { pending: number };
    if (pending === 0) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

export async function startGatewayTarget(stream: string, kinesisEndpoint?: string, extraArgs: string[] = []): Promise<Target> {
  const gateway = await startGateway([
    '--stream',
    stream,
    '--trust-proxy-hops',
    '1',
    ...(kinesisEndpoint ? ['--kinesis-endpoint', kinesisEndpoint] : ['--local-kinesis-shards', String(SHARDS)]),
    ...extraArgs,
  ]);
  const pid = gateway.child.pid!;
  return {
    url: gateway.url(''),
    pid,
    localKinesisPids: () => (kinesisEndpoint ? [] : descendantsOf(pid)),
    stream: {
      endpoint: gateway.kinesisEndpoint,
      name: stream,
      drained: () =>
        waitUntilShipped(gateway, 600_000).then(
          () => true,
          () => false,
        ),
    },
    metricsUrl: gateway.adminUrl('/metrics'),
    stop: async () => void (await gateway.kill('SIGINT')),
  };
}

const single = { method: 'POST', path: '/v1/events', body: EVENT, contentType: 'application/json', eventsPerRequest: 1 } as const;
const gateway = (stream: string) => startGatewayTarget(stream);

export const SCENARIOS: readonly Scenario[] = [
  { name: 'bare', ...single, pipelining: 1, headline: true, start: startBare },
  { name: 'single', ...single, pipelining: 1, headline: true, start: gateway },
  { name: 'pixel', method: 'GET', path: PIXEL_PATH, eventsPerRequest: 1, pipelining: 1, headline: true, start: gateway },
  { name: 'batch', ...single, body: BATCH, contentType: 'application/x-ndjson', eventsPerRequest: 100, pipelining: 1, headline: true, start: gateway },
  // The Segment routes (docs/tracking-sdks.md): analytics-next's one call per request, analytics-node's batch.
  { name: 'segment-t', ...single, path: '/v1/t', body: SEGMENT_TRACK, contentType: 'text/plain', pipelining: 1, headline: true, start: gateway },
  { name: 'segment-batch', ...single, path: '/v1/batch', body: SEGMENT_BATCH, eventsPerRequest: 20, pipelining: 1, headline: true, start: gateway },
  { name: 'fastify-peer', ...single, pipelining: 1, headline: true, start: (stream) => startWithOwnKinesis('fastify-peer-server.js', stream, fastifyDrained) },
  // It answers only after PutRecord: nothing is left to ship when the load stops.
  { name: 'seed-design', ...single, pipelining: 1, headline: true, start: (stream) => startWithOwnKinesis('seed-design-server.js', stream, async () => true) },
  {
    // Every answer waits for its group commit (write + fdatasync).
    name: 'single-disk',
    ...single,
    pipelining: 1,
    headline: true,
    start: (stream) => startGatewayTarget(stream, undefined, ['--durability', 'disk', '--spool-dir', tempDir('bench-spool-')]),
  },
  { name: 'bare-pipelined', ...single, pipelining: PIPELINED, headline: false, start: startBare },
  { name: 'single-pipelined', ...single, pipelining: PIPELINED, headline: false, start: gateway },
];

/** The scenarios run at a fixed rate as well, for CPU per request. */
export const FIXED_RATE_SCENARIOS = ['bare', 'single', 'fastify-peer', 'segment-t', 'segment-batch'];

export function scenario(name: string): Scenario {
  const found = SCENARIOS.find((s) => s.name === name);
  if (!found) throw new Error(`no scenario ${name}; there are ${SCENARIOS.map((s) => s.name).join(', ')}`);
  return found;
}
