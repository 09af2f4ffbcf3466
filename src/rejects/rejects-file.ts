// Refused requests kept for later (--rejects-file): a tracker bug that makes every event malformed
// should cost a fix and a resend, not the events. Bounded three ways, so hostile traffic cannot fill
// a disk or the main thread's memory: a rate (a token bucket), a body bound per line, and a total
// size over rotating files. Lines are written off the request path, in batches, by async appends.

import { appendFile, rename, rm, stat } from 'node:fs/promises';
import type { ErrorCode } from '../errors';
import { METRICS, type MetricDefinition } from '../metrics/metric-definitions';
import type { CounterHandle } from '../metrics/shared-metrics';

/** Bodies longer than this are kept truncated (`truncated: true`, `bytes` says how long they were). */
export const REJECT_BODY_BYTES = 16 * 1024;
/** The file and its rotated predecessors (FILE.1 … FILE.3, oldest last) share --rejects-max-bytes. */
export const REJECT_FILES = 4;
/** Lines waiting for the disk; past it (the disk is slow or gone) refusals are only counted. */
const MAX_PENDING_BYTES = 1024 * 1024;

/**
 * Refusals worth keeping: the client meant to send events and something in them was wrong. Bad or
 * missing write keys, origins, rate limits, overload and protocol abuse are counted, never kept.
 */
export const KEPT_REASONS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'empty_body',
  'malformed_json',
  'invalid_utf8',
  'bad_encoding',
  'not_an_object',
  'too_deep',
  'body_too_large',
  'event_too_large',
  'unsupported_media_type',
  'segment_too_large',
  'segment_invalid',
  'internal',
]);

export interface Rejected {
  readonly reason: ErrorCode;
  readonly message: string;
  readonly route: string;
  /** The client address after --ip-policy. */
  readonly ip: string;
  readonly userAgent: string;
  /** The body as received; undefined when the request was refused before it was read. */
  readonly body?: Uint8Array;
}

export interface RejectsOptions {
  readonly file: string;
  readonly maxBytes: number;
  readonly perSecond: number;
}

export interface RejectsCounters {
  readonly kept: CounterHandle;
  readonly rateLimited: CounterHandle;
  readonly failed: CounterHandle;
}

export class RejectsFile {
  private tokens: number;
  private refilledAt = 0;
  private pending: string[] = [];
  private pendingBytes = 0;
  private size: number | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly options: RejectsOptions,
    private readonly counters: RejectsCounters,
  ) {
    this.tokens = options.perSecond;
  }

  /** Keeps a refusal if its reason is worth keeping and the rate allows; never blocks. */
  keep(rejected: Rejected, nowMs: number): void {
    if (!KEPT_REASONS.has(rejected.reason)) return;
    const rate = this.options.perSecond;
    this.tokens = Math.min(rate, this.tokens + ((nowMs - this.refilledAt) / 1000) * rate);
    this.refilledAt = nowMs;
    if (this.tokens < 1 || this.pendingBytes > MAX_PENDING_BYTES) {
      this.counters.rateLimited.inc();
      return;
    }
    this.tokens -= 1;
    const body = rejected.body ?? new Uint8Array(0);
    const kept = body.subarray(0, REJECT_BODY_BYTES);
    const line = `${JSON.stringify({
      reason: rejected.reason,
      message: rejected.message,
      time: new Date(nowMs).toISOString(),
      route: rejected.route,
      ip: rejected.ip,
      ua: rejected.userAgent,
      bytes: body.length,
      truncated: kept.length < body.length,
      body: Buffer.from(kept.buffer, kept.byteOffset, kept.length).toString('base64'),
    })}\n`;
    this.pending.push(line);
    this.pendingBytes += line.length;
    this.flushing ??= this.flush();
  }

  /** Resolves once every line kept so far is on disk (or counted as failed). */
  async drained(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async flush(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve)); // gather the refusals of this turn into one write
    try {
      while (this.pending.length > 0) {
        const lines = this.pending;
        this.pending = [];
        this.pendingBytes = 0;
        try {
          await this.write(lines);
          this.counters.kept.inc(lines.length);
        } catch {
          this.counters.failed.inc(lines.length);
          this.size = undefined; // stat again: the file may have been moved or removed
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  /** Appends the lines, rotating before a file would pass its share of --rejects-max-bytes. */
  private async write(lines: readonly string[]): Promise<void> {
    const { file, maxBytes } = this.options;
    const perFile = Math.floor(maxBytes / REJECT_FILES);
    this.size ??= await stat(file).then(
      (s) => s.size,
      () => 0,
    );
    let chunk = '';
    let chunkBytes = 0;
    for (const line of lines) {
      const bytes = Buffer.byteLength(line);
      if (this.size + chunkBytes + bytes > perFile && this.size + chunkBytes > 0) {
        if (chunkBytes > 0) await appendFile(file, chunk);
        await this.rotate();
        chunk = '';
        chunkBytes = 0;
      }
      chunk += line;
      chunkBytes += bytes;
    }
    if (chunkBytes > 0) await appendFile(file, chunk);
    this.size += chunkBytes;
  }

  private async rotate(): Promise<void> {
    const file = this.options.file;
    await rm(`${file}.${REJECT_FILES - 1}`, { force: true });
    for (let i = REJECT_FILES - 2; i >= 1; i--) await rename(`${file}.${i}`, `${file}.${i + 1}`).catch(() => undefined);
    await rename(file, `${file}.1`);
    this.size = 0;
  }
}

/** The rejects file --rejects-file asks for, or undefined when it is not set. */
export function rejectsFileOf(
  config: { readonly rejectsFile?: string; readonly rejectsMaxBytes: number; readonly rejectsPerSecond: number },
  metrics: { counter(definition: MetricDefinition, ...labels: string[]): CounterHandle },
): RejectsFile | undefined {
  if (!config.rejectsFile) return undefined;
  return new RejectsFile(
    { file: config.rejectsFile, maxBytes: config.rejectsMaxBytes, perSecond: config.rejectsPerSecond },
    {
      kept: metrics.counter(METRICS.rejectsFile, 'kept'),
      rateLimited: metrics.counter(METRICS.rejectsFile, 'rate_limited'),
      failed: metrics.counter(METRICS.rejectsFile, 'failed'),
    },
  );
}
