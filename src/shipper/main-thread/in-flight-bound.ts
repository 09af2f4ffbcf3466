// Runs on the main thread: how many ring bytes the tasks in flight may hold.
//
// A stream takes at most 1 MiB/s per shard, so the bytes that keep every shard busy are that rate
// times the time one PutRecords call takes (Little's law): shards × 1 MiB/s × latency. Tasks beyond
// that only wait in the workers' pacers, holding their events, aggregates and request bodies: in the
// catch-up after an outage (a spool read back into a fast Kinesis) that was the bulk of the memory.
// A fixed bound instead capped a slow Kinesis: with 2 s calls, 8 MiB in flight shipped 4 MiB/s at most.
//
// Floor: one task per worker, of at most FLOOR_BYTES_PER_WORKER. Each worker paces its own share of
// every shard, so the shards are busy only while every worker has a task (taskBytesCap). In the catch-up
// after a 300 s outage (bench --outage), 1.5 MiB per worker peaked at 254 MiB RSS and 2 MiB at 256 MiB,
// both draining at the 4 shards' rate; a full 4 MiB task per worker held 340-350 MiB. It is also the
// bound while the shards or latency are unknown.
// Ceiling: the latency counts up to MAX_LATENCY_S. A Kinesis slower than that is barely working, and
// what it would justify holding (16 shards × 10 s: 160 MiB) would blow the memory goal for little.

import { METRICS } from '../../metrics/metric-definitions';
import type { SharedMetrics } from '../../metrics/shared-metrics';
import { SHARD_BYTES_PER_SECOND } from '../../kinesis-limits';

export const MAX_LATENCY_S = 5;
export const FLOOR_BYTES_PER_WORKER = 1.5 * 1024 * 1024;

export interface InFlightShape {
  /** Open shards of the stream; 0 while unknown. */
  readonly shards: number;
  readonly workers: number;
  readonly maxTaskBytes: number;
}

/** Ring bytes the tasks in flight may hold, given the PutRecords latency (seconds) observed lately. */
export function bytesInFlightBound(shape: InFlightShape, latencySeconds: number): number {
  const floor = shape.workers * Math.min(shape.maxTaskBytes, FLOOR_BYTES_PER_WORKER);
  return Math.max(floor, Math.floor(shape.shards * SHARD_BYTES_PER_SECOND * Math.min(latencySeconds, MAX_LATENCY_S)));
}

/**
 * The most one task may hold under `bound`: a worker's share of it. Each worker paces its own share
 * of every shard, so the shards are busy only while every worker has a task; a first task that took
 * the whole bound would leave the others idle and ship at 1/workers of the shards' rate.
 */
export function taskBytesCap(shape: InFlightShape, bound: number): number {
  return Math.min(shape.maxTaskBytes, Math.floor(bound / shape.workers));
}

/** Cumulative PutRecords figures at one moment: the duration histogram's buckets and the calls by outcome. */
export interface PutRecordsSnapshot {
  /** Upper bounds of the buckets, in seconds, ending with Infinity. */
  readonly upperBounds: readonly number[];
  /** Calls observed at or below each upper bound (cumulative, as Prometheus keeps them). */
  readonly cumulative: readonly number[];
  readonly ok: number;
  readonly failed: number;
}

/**
 * The median latency of the calls made between two snapshots, rounded up to its bucket's upper
 * bound (a slow Kinesis may hold a little more, never less); undefined when the window says nothing
 * about a working Kinesis: no call, or as many failed as succeeded (an outage's calls fail fast, or
 * hang until the timeout; neither is how long a call takes when it works).
 */
export function windowMedianLatency(before: PutRecordsSnapshot, after: PutRecordsSnapshot): number | undefined {
  const ok = after.ok - before.ok;
  if (ok <= 0 || after.failed - before.failed >= ok) return undefined;
  const last = after.cumulative.length - 1;
  const calls = after.cumulative[last] - before.cumulative[last];
  if (calls <= 0) return undefined;
  for (let b = 0; b <= last; b++) {
    if (after.cumulative[b] - before.cumulative[b] >= calls / 2) return after.upperBounds[b];
  }
  return after.upperBounds[last];
}

/** How often the latency is read again: windows of about this many milliseconds. */
export const LATENCY_WINDOW_MS = 1000;

/**
 * The latency of PutRecords lately: the median of the last window of about a second that says
 * something (see windowMedianLatency); 0 until one does. Read lazily, when a task is about to start.
 */
export class RecentPutLatency {
  private window: PutRecordsSnapshot;
  private windowStart: number;
  private latency = 0;

  constructor(
    private readonly snapshot: () => PutRecordsSnapshot,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.window = snapshot();
    this.windowStart = now();
  }

  seconds(): number {
    const now = this.now();
    if (now - this.windowStart < LATENCY_WINDOW_MS) return this.latency;
    const current = this.snapshot();
    this.latency = windowMedianLatency(this.window, current) ?? this.latency;
    this.window = current;
    this.windowStart = now;
    return this.latency;
  }
}

/** The PutRecords figures the workers have counted so far, read from shared memory. */
export function putRecordsSnapshot(metrics: SharedMetrics): PutRecordsSnapshot {
  const buckets = metrics.samples(METRICS.putRecordsDuration).filter((s) => s.metricName.endsWith('_bucket'));
  const calls = (outcome: string) => metrics.samples(METRICS.putRecordsRequests).find((s) => s.labels.outcome === outcome)?.value ?? 0;
  return {
    upperBounds: buckets.map((s) => (s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le))),
    cumulative: buckets.map((s) => s.value),
    ok: calls('ok'),
    failed: calls('error'),
  };
}
