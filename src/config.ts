// One typed schema per command: defaults, flag and environment names, validation, help text.
// Every problem is collected so that a bad start lists them all at once, those of rules across
// options too: no command checks its options on its own.

import { ConfigError } from './errors';
import { IP_POLICIES } from './http/ip-policy';

type Kind = 'integer' | 'bytes' | 'string' | 'url' | 'boolean' | 'enum';

interface OptionSpec {
  readonly flag: string;
  readonly kind: Kind;
  readonly default: string | number | boolean | undefined;
  readonly help: string;
  readonly env?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly string[];
  /** For strings: the form a value must have, and how to say it. */
  readonly pattern?: { readonly regex: RegExp; readonly expected: string };
}

type Value<S extends OptionSpec> = S['kind'] extends 'integer' | 'bytes'
  ? S['default'] extends undefined
    ? number | undefined
    : number
  : S['kind'] extends 'boolean'
    ? boolean
    : S['kind'] extends 'enum'
      ? NonNullable<S['choices']>[number]
      : S['default'] extends undefined
        ? string | undefined
        : string;

type Options = Readonly<Record<string, OptionSpec>>;
type ValuesOf<O extends Options> = { readonly [K in keyof O]: Value<O[K]> };

/** A rule across options: the problem it finds in parsed values, if any. */
interface Rule<V> {
  /** The options it reads: it is checked only when each of them parsed. */
  readonly reads: readonly (keyof V & string)[];
  readonly problem: (values: V) => string | undefined;
}

// A symbol key, so that iterating a schema (help, docs, tests) still meets options only.
const RULES = Symbol('rules');
type Schema = Options & { readonly [RULES]?: readonly Rule<never>[] };
export type OptionsOf<S extends Schema> = ValuesOf<Omit<S, typeof RULES>>;

/** A command's options with the rules that tie them together: parseOptions checks both. */
function commandSchema<const O extends Options>(options: O, rules: readonly Rule<ValuesOf<O>>[]): O & { readonly [RULES]: readonly Rule<ValuesOf<O>>[] } {
  return Object.defineProperty({ ...options }, RULES, { value: rules, enumerable: false }) as O & { readonly [RULES]: readonly Rule<ValuesOf<O>>[] };
}

const needsKinesisTarget = (command: string): Rule<{ endpoint: string | undefined; region: string | undefined }> => ({
  reads: ['endpoint', 'region'],
  problem: ({ endpoint, region }) => (endpoint || region ? undefined : `${command} needs --endpoint or --region (or AWS_ENDPOINT_URL_KINESIS / AWS_REGION)`),
});

const MiB = 1024 * 1024;
/** The largest --max-header-bytes and --max-url-bytes: together they stay below the head limit uWS is given (http/uws.ts). */
export const MAX_HEADER_BYTES = 32 * 1024;
export const MAX_URL_BYTES = 16 * 1024;

function option<const S extends OptionSpec>(spec: S): S {
  return spec;
}

const kinesisEndpoint = option({
  flag: 'kinesis-endpoint',
  kind: 'url',
  default: undefined,
  env: ['GATEWAY_KINESIS_ENDPOINT', 'AWS_ENDPOINT_URL_KINESIS', 'AWS_ENDPOINT_URL'],
  help: 'Kinesis endpoint URL; with neither this nor a region, serve starts the embedded local Kinesis',
});
const region = option({
  flag: 'region',
  kind: 'string',
  default: undefined,
  env: ['GATEWAY_REGION', 'AWS_REGION', 'AWS_DEFAULT_REGION'],
  help: 'AWS region of the stream',
});
const stream = option({ flag: 'stream', kind: 'string', default: 'events', help: 'Kinesis stream name' });
const logLevel = option({
  flag: 'log-level',
  kind: 'enum',
  default: 'info',
  choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
  help: 'log level (JSON lines on stdout)',
});

export const SERVE_SCHEMA = commandSchema(
  {
    port: option({ flag: 'port', kind: 'integer', default: 8080, min: 0, max: 65535, help: 'public HTTP port (0 picks a free one)' }),
    host: option({ flag: 'host', kind: 'string', default: '0.0.0.0', help: 'public HTTP listen address' }),
    adminPort: option({
      flag: 'admin-port',
      kind: 'integer',
      default: 9464,
      min: 0,
      max: 65535,
      help: 'admin port serving /metrics, /healthz and /readyz (0 picks a free one)',
    }),
    adminHost: option({ flag: 'admin-host', kind: 'string', default: '0.0.0.0', help: 'admin listen address' }),
    stream,
    region,
    kinesisEndpoint,
    ringBytes: option({
      flag: 'ring-bytes',
      kind: 'bytes',
      default: 64 * MiB,
      min: 64 * 1024,
      max: 2047 * MiB,
      help: 'size of the shared-memory event buffer; memory never grows past it',
    }),
    maxBodyBytes: option({
      flag: 'max-body-bytes',
      kind: 'bytes',
      default: 1 * MiB,
      min: 1024,
      max: 64 * MiB,
      help: 'largest request body accepted (413 past it)',
    }),
    maxInflatedBytes: option({
      flag: 'max-inflated-bytes',
      kind: 'bytes',
      default: 4 * MiB,
      min: 1024,
      max: 256 * MiB,
      help: 'largest body a gzip or deflate request may inflate to (413 past it)',
    }),
    maxInflateRatio: option({
      flag: 'max-inflate-ratio',
      kind: 'integer',
      default: 100,
      min: 2,
      max: 100_000,
      help: 'largest inflated-to-compressed size ratio accepted (413 past it: a compression bomb)',
    }),
    trustProxyHops: option({
      flag: 'trust-proxy-hops',
      kind: 'integer',
      default: 0,
      min: 0,
      max: 10,
      help: 'proxies in front of the gateway (1 behind an ELB): the client IP is that many entries from the right of X-Forwarded-For; 0 ignores the header',
    }),
    readyMaxBufferPercent: option({
      flag: 'ready-max-buffer-percent',
      kind: 'integer',
      default: 90,
      min: 1,
      max: 100,
      help: '/readyz answers 503 while the buffer is fuller than this, so the load balancer sends traffic elsewhere',
    }),
    bodyTimeoutMs: option({
      flag: 'body-timeout-ms',
      kind: 'integer',
      default: 10_000,
      min: 100,
      max: 600_000,
      help: 'longest time a request body may take to arrive whole (408 past it): bounds slow clients',
    }),
    maxHeaderBytes: option({
      flag: 'max-header-bytes',
      kind: 'bytes',
      default: 16 * 1024,
      min: 1024,
      max: MAX_HEADER_BYTES,
      help: 'largest total of request header names and values (431 past it)',
    }),
    maxUrlBytes: option({
      flag: 'max-url-bytes',
      kind: 'bytes',
      default: 8 * 1024,
      min: 256,
      max: MAX_URL_BYTES,
      help: 'longest request target, path and query (414 past it)',
    }),
    corsOrigins: option({
      flag: 'cors-origins',
      kind: 'string',
      default: undefined,
      help: 'comma-separated origins allowed to send events from browsers (* for any); when set, other origins are refused',
    }),
    writeKeys: option({
      flag: 'write-keys',
      kind: 'string',
      default: undefined,
      help: 'comma-separated write keys; when set, every event needs one (Authorization: Basic <key>: or ?writeKey=)',
    }),
    writeKeysFile: option({
      flag: 'write-keys-file',
      kind: 'string',
      default: undefined,
      help: 'file of write keys, one per line (with or instead of --write-keys)',
    }),
    rateLimitPerIp: option({
      flag: 'rate-limit-per-ip',
      kind: 'integer',
      default: 0,
      min: 0,
      max: 1_000_000,
      help: 'requests per second one client IP may send (429 past it); 0: no limit',
    }),
    maxEventDepth: option({
      flag: 'max-event-depth',
      kind: 'integer',
      default: 32,
      min: 1,
      max: 1000,
      help: 'deepest JSON nesting accepted inside one event (400 past it)',
    }),
    // Privacy and rejected requests
    ipPolicy: option({
      flag: 'ip-policy',
      kind: 'enum',
      default: 'keep',
      choices: IP_POLICIES,
      help: 'what of the client address is stored with each event: all of it, its network (IPv4 /24, IPv6 /48), or nothing',
    }),
    rejectsFile: option({
      flag: 'rejects-file',
      kind: 'string',
      default: undefined,
      help: 'NDJSON file keeping refused malformed or oversized requests (reason, time, route, address, body in base64); unset: not kept',
    }),
    rejectsMaxBytes: option({
      flag: 'rejects-max-bytes',
      kind: 'bytes',
      default: 64 * MiB,
      min: 1 * MiB,
      max: 64 * 1024 * MiB,
      help: 'total size of the rejects file and its rotated predecessors; the oldest is deleted past it',
    }),
    rejectsPerSecond: option({
      flag: 'rejects-per-second',
      kind: 'integer',
      default: 50,
      min: 1,
      max: 100_000,
      help: 'most refused requests kept per second; the rest are only counted',
    }),
    workers: option({ flag: 'workers', kind: 'integer', default: 2, min: 1, max: 64, help: 'shipper worker threads' }),
    batchesPerWorker: option({
      flag: 'batches-per-worker',
      kind: 'integer',
      default: 4,
      min: 1,
      max: 64,
      help: 'PutRecords batches one worker keeps in flight at once',
    }),
    lingerMs: option({ flag: 'linger-ms', kind: 'integer', default: 50, min: 0, max: 60_000, help: 'longest time a record waits for its batch to fill' }),
    aggregation: option({
      flag: 'aggregation',
      kind: 'enum',
      default: 'on',
      choices: ['on', 'off'],
      help: 'pack events into KPL aggregated records (off: one record per event, for consumers that cannot de-aggregate)',
    }),
    aggregationMaxBytes: option({
      flag: 'aggregation-max-bytes',
      kind: 'bytes',
      default: 50 * 1024,
      min: 1024,
      max: 1024 * 1024,
      help: 'largest aggregated record, counting magic, MD5 and partition key',
    }),
    partitionKey: option({
      flag: 'partition-key',
      kind: 'string',
      default: 'random',
      pattern: { regex: /^(random|field:[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*)$/, expected: 'random or field:<json.path> (for example field:userId)' },
      help: "random spreads load evenly; field:<json.path> keeps one key's events in order on one shard (events without it get a random key)",
    }),
    rateLimitPercent: option({
      flag: 'rate-limit-percent',
      kind: 'integer',
      default: 100,
      min: 1,
      max: 100,
      help: "share of each shard's write limit (1,000 records/s, 1 MiB/s) the gateway uses",
    }),
    recordTtlMs: option({
      flag: 'record-ttl-ms',
      kind: 'integer',
      default: undefined,
      min: 100,
      max: 86_400_000,
      help: 'how long an event may wait for Kinesis before it goes to the dead-letter file; unset: no limit with --spool-dir (events wait on disk), 30000 without one (memory is the bound)',
    }),
    durability: option({
      flag: 'durability',
      kind: 'enum',
      default: 'memory',
      choices: ['memory', 'disk'],
      help: 'memory: 202 once an event is in the buffer; disk: 202 once it is synced to the spool (needs --spool-dir)',
    }),
    spoolDir: option({
      flag: 'spool-dir',
      kind: 'string',
      default: undefined,
      help: 'directory of the disk spool: overflow when the buffer is full, every event with --durability disk; replayed at start',
    }),
    spoolMaxBytes: option({
      flag: 'spool-max-bytes',
      kind: 'bytes',
      default: 1024 * MiB,
      min: 1 * MiB,
      max: 1024 * 1024 * MiB,
      help: 'largest size of the spool on disk (503 past it)',
    }),
    spoolSegmentBytes: option({
      flag: 'spool-segment-bytes',
      kind: 'bytes',
      default: 16 * MiB,
      min: 64 * 1024,
      max: 1024 * MiB,
      help: 'size at which a spool segment file is closed and a new one begun',
    }),
    spoolCommitMs: option({
      flag: 'spool-commit-ms',
      kind: 'integer',
      default: 2,
      min: 0,
      max: 1000,
      help: 'group-commit window: events appended within it share one write and fdatasync',
    }),
    ackTimeoutMs: option({
      flag: 'ack-timeout-ms',
      kind: 'integer',
      default: 10_000,
      min: 10,
      max: 600_000,
      help: 'longest time a ?ack=stream request waits for Kinesis before it gets 503 (its events stay queued)',
    }),
    deadLetterFile: option({
      flag: 'dead-letter-file',
      kind: 'string',
      default: 'kinesis-gateway-dead-letter.ndjson',
      help: 'NDJSON file of the envelopes given up (expired or refused for good)',
    }),
    kinesisConnectTimeoutMs: option({
      flag: 'kinesis-connect-timeout-ms',
      kind: 'integer',
      default: 3000,
      min: 100,
      max: 120_000,
      help: 'TCP/TLS connect timeout towards Kinesis',
    }),
    kinesisRequestTimeoutMs: option({
      flag: 'kinesis-request-timeout-ms',
      kind: 'integer',
      default: 10_000,
      min: 100,
      max: 600_000,
      help: 'timeout of one PutRecords call',
    }),
    drainDelayMs: option({
      flag: 'drain-delay-ms',
      kind: 'integer',
      default: 5000,
      min: 0,
      max: 600_000,
      help: 'on SIGTERM, keep serving this long with /readyz at 503 (set to the load balancer deregistration delay)',
    }),
    shutdownTimeoutMs: option({
      flag: 'shutdown-timeout-ms',
      kind: 'integer',
      default: 30_000,
      min: 0,
      max: 3_600_000,
      help: 'longest time shutdown waits for buffered events to ship',
    }),
    localKinesisPort: option({
      flag: 'local-kinesis-port',
      kind: 'integer',
      default: 4567,
      min: 0,
      max: 65535,
      help: 'port of the embedded local Kinesis (0 picks a free one)',
    }),
    localKinesisShards: option({
      flag: 'local-kinesis-shards',
      kind: 'integer',
      default: 4,
      min: 1,
      max: 100,
      help: 'shards of the stream the embedded local Kinesis creates',
    }),
    allowUwsFallback: option({
      flag: 'allow-uws-fallback',
      kind: 'boolean',
      default: false,
      help: 'start even when the native uWebSockets.js binary cannot load (the pure-Node fallback is many times slower)',
    }),
    logLevel,
  },
  [
    {
      reads: ['durability', 'spoolDir'],
      problem: ({ durability, spoolDir }) =>
        durability === 'disk' && !spoolDir
          ? '--durability disk needs --spool-dir: the directory the events are synced to before they are acknowledged'
          : undefined,
    },
  ],
);

export const TAP_SCHEMA = commandSchema(
  {
    endpoint: { ...kinesisEndpoint, flag: 'endpoint', help: 'Kinesis endpoint URL (default: the AWS endpoint of the region)' },
    region,
    stream,
    from: option({ flag: 'from', kind: 'enum', default: 'trim-horizon', choices: ['trim-horizon', 'latest'], help: 'where to start reading every shard' }),
    idleExit: option({
      flag: 'idle-exit',
      kind: 'integer',
      default: 0,
      min: 0,
      max: 86_400,
      help: 'exit after this many seconds with no new records (0: never)',
    }),
  },
  [needsKinesisTarget('tap')],
);

export const LOCAL_KINESIS_SCHEMA = commandSchema(
  {
    port: option({ flag: 'port', kind: 'integer', default: 4567, min: 0, max: 65535, help: 'port to listen on (0 picks a free one)' }),
    stream,
    shards: option({ flag: 'shards', kind: 'integer', default: 4, min: 1, max: 100, help: 'shards of the stream to create' }),
  },
  [],
);

export const REPLAY_SCHEMA = commandSchema(
  {
    endpoint: { ...kinesisEndpoint, flag: 'endpoint', help: 'Kinesis endpoint URL (default: the AWS endpoint of the region)' },
    region,
    stream,
    aggregation: SERVE_SCHEMA.aggregation,
    aggregationMaxBytes: SERVE_SCHEMA.aggregationMaxBytes,
    partitionKey: SERVE_SCHEMA.partitionKey,
    rateLimitPercent: SERVE_SCHEMA.rateLimitPercent,
    kinesisConnectTimeoutMs: SERVE_SCHEMA.kinesisConnectTimeoutMs,
    kinesisRequestTimeoutMs: SERVE_SCHEMA.kinesisRequestTimeoutMs,
    chunkEvents: option({
      flag: 'chunk-events',
      kind: 'integer',
      default: 5000,
      min: 1,
      max: 100_000,
      help: 'events per chunk: the progress file moves a chunk at a time (at most this many events per chunk in flight are sent again after an interruption)',
    }),
    concurrency: option({ flag: 'concurrency', kind: 'integer', default: 4, min: 1, max: 64, help: 'chunks in flight at once' }),
    progressFile: option({
      flag: 'progress-file',
      kind: 'string',
      default: undefined,
      help: 'where the replay records how far it got, to resume after an interruption (default: FILE.progress)',
    }),
    refusedFile: option({
      flag: 'refused-file',
      kind: 'string',
      default: undefined,
      help: 'where lines Kinesis refuses for good, or that are not envelopes, go (default: FILE.refused.ndjson)',
    }),
    logLevel,
  },
  [needsKinesisTarget('replay')],
);

export type ServeConfig = OptionsOf<typeof SERVE_SCHEMA>;
export type ReplayConfig = OptionsOf<typeof REPLAY_SCHEMA>;

/** The record TTL without --spool-dir, when --record-ttl-ms is not set: memory is the bound. */
export const DEFAULT_MEMORY_RECORD_TTL_MS = 30_000;

/**
 * The age past which an event waiting for Kinesis is dead-lettered. With a spool there is none
 * unless the operator asks for one: retryable failures wait on disk, bounded by --spool-max-bytes.
 */
export function effectiveRecordTtlMs(config: Pick<ServeConfig, 'recordTtlMs' | 'spoolDir'>): number {
  return config.recordTtlMs ?? (config.spoolDir ? Number.POSITIVE_INFINITY : DEFAULT_MEMORY_RECORD_TTL_MS);
}
export type TapConfig = OptionsOf<typeof TAP_SCHEMA>;
export type LocalKinesisConfig = OptionsOf<typeof LOCAL_KINESIS_SCHEMA>;

export function envName(spec: OptionSpec): string {
  return spec.env?.[0] ?? `GATEWAY_${spec.flag.replace(/-/g, '_').toUpperCase()}`;
}

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: MiB,
  mb: MiB,
  mib: MiB,
  g: 1024 * MiB,
  gb: 1024 * MiB,
  gib: 1024 * MiB,
};

function convert(spec: OptionSpec, raw: string | boolean, source: string): { value?: unknown; problem?: string } {
  const bad = (what: string) => ({ problem: `${source}: ${what}, got ${JSON.stringify(raw)}` });
  if (spec.kind === 'boolean') {
    if (raw === true || raw === 'true' || raw === '1') return { value: true };
    if (raw === false || raw === 'false' || raw === '0') return { value: false };
    return bad('expected true or false');
  }
  if (raw === true || raw === false) return bad('expected a value');
  switch (spec.kind) {
    case 'integer':
    case 'bytes': {
      const match = spec.kind === 'bytes' ? /^(\d+)\s*([a-zA-Z]*)$/.exec(raw.trim()) : /^(-?\d+)()$/.exec(raw.trim());
      const unit = match ? BYTE_UNITS[match[2].toLowerCase()] : undefined;
      if (!match || unit === undefined) return bad(spec.kind === 'bytes' ? 'expected a size such as 65536, 512KiB or 64MiB' : 'expected a whole number');
      const n = Number(match[1]) * unit;
      if (spec.min !== undefined && n < spec.min) return bad(`must be at least ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) return bad(`must be at most ${spec.max}`);
      return { value: n };
    }
    case 'enum':
      return spec.choices!.includes(raw) ? { value: raw } : bad(`expected one of ${spec.choices!.join(', ')}`);
    case 'url': {
      try {
        const url = new URL(raw);
        if (url.protocol !== 'http:' && url.protocol !== 'https:') return bad('expected an http:// or https:// URL');
        return { value: raw.replace(/\/+$/, '') };
      } catch {
        return bad('expected a URL');
      }
    }
    default:
      if (raw === '') return bad('must not be empty');
      if (spec.pattern && !spec.pattern.regex.test(raw)) return bad(`expected ${spec.pattern.expected}`);
      return { value: raw };
  }
}

/** Flags win over environment variables, which win over defaults. */
export function parseOptions<S extends Schema>(schema: S, argv: readonly string[], env: NodeJS.ProcessEnv): OptionsOf<S> {
  const problems: string[] = [];
  const byFlag = new Map(Object.entries(schema).map(([key, spec]) => [spec.flag, key]));
  const fromFlags = new Map<string, string | boolean>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const match = /^--([a-z0-9-]+)(?:=(.*))?$/s.exec(arg);
    if (!match) {
      problems.push(`unexpected argument ${JSON.stringify(arg)}`);
      continue;
    }
    let [, flag, inline] = match;
    let negated = false;
    if (!byFlag.has(flag) && flag.startsWith('no-') && schema[byFlag.get(flag.slice(3)) ?? '']?.kind === 'boolean') {
      flag = flag.slice(3);
      negated = true;
    }
    const key = byFlag.get(flag);
    if (key === undefined) {
      problems.push(`unknown option --${flag}`);
      continue;
    }
    if (schema[key].kind === 'boolean') {
      fromFlags.set(key, negated ? false : (inline ?? true));
    } else if (inline !== undefined) {
      fromFlags.set(key, inline);
    } else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) {
      fromFlags.set(key, argv[++i]);
    } else {
      problems.push(`--${flag} needs a value`);
    }
  }

  const result: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema)) {
    let raw: string | boolean | undefined = fromFlags.get(key);
    let source = `--${spec.flag}`;
    if (raw === undefined) {
      const names = spec.env ?? [envName(spec)];
      const name = names.find((n) => env[n] !== undefined && env[n] !== '');
      if (name) {
        raw = env[name]!;
        source = name;
      }
    }
    if (raw === undefined) {
      result[key] = spec.default;
      continue;
    }
    const { value, problem } = convert(spec, raw, source);
    if (problem) problems.push(problem);
    else result[key] = value;
  }
  const parsed = (key: string) => key in result;
  for (const rule of schema[RULES] ?? []) {
    const problem = rule.reads.every(parsed) ? rule.problem(result as never) : undefined;
    if (problem) problems.push(problem);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(result) as OptionsOf<S>;
}

export function helpText(command: string, schema: Schema): string {
  const rows = Object.values(schema).map((spec) => {
    const placeholder = spec.kind === 'boolean' ? '' : ` <${spec.kind === 'enum' ? spec.choices!.join('|') : spec.kind}>`;
    const env = (spec.env ?? [envName(spec)]).join(', ');
    const def = spec.default === undefined ? 'unset' : String(spec.default);
    return `  --${spec.flag}${placeholder}\n      ${spec.help}\n      default: ${def}; env: ${env}`;
  });
  return `Usage: kinesis-gateway ${command} [options]\n\nOptions (flags win over environment variables):\n${rows.join('\n')}\n`;
}
