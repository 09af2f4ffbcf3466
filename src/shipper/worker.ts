// A piscina worker: ships the records of one ring batch per task. The batch's bytes are read from
// shared memory; the task carries only the region.

import { workerData } from 'piscina';
import { receivedAtOf } from '../events/envelope';
import { createKinesisClient, type KinesisTarget } from '../kinesis-client';
import { createLogger } from '../log';
import { METRICS, RECORD_ERROR_CODES, SHARD_LABELS, SHARD_SLOTS } from '../metrics/metric-definitions';
import { SharedMetrics } from '../metrics/shared-metrics';
import { RingViews } from '../ring/ring-layout';
import { readBatch } from '../ring/ring-reader';
import type { BatchDescriptor } from '../ring/ring-writer';
import type { PendingEvent } from './aggregator';
import { appendDeadLetters } from './dead-letter';
import { deliver, type DeliveryTarget, type ShipperCounters } from './put-records';
import { ShardMapCache } from './shard-map-cache';
import { ShardPacer } from './shard-pacer';

export interface ShipperWorkerData {
  readonly ring: SharedArrayBuffer;
  readonly metrics: SharedArrayBuffer;
  readonly kinesis: KinesisTarget;
  readonly stream: string;
  readonly logLevel: string;
  readonly workers: number;
  /** 0 turns aggregation off. */
  readonly aggregationMaxBytes: number;
  readonly rateLimitPercent: number;
  readonly recordTtlMs: number;
  readonly deadLetterFile: string;
  readonly ordered: boolean;
}

const data = workerData as ShipperWorkerData;
const ring = new RingViews(data.ring);
const client = createKinesisClient(data.kinesis);
const log = createLogger(data.logLevel).child({ thread: 'shipper' });
const metrics = new SharedMetrics(data.metrics);
const m = {
  putOk: metrics.counter(METRICS.putRecordsRequests, 'ok'),
  putError: metrics.counter(METRICS.putRecordsRequests, 'error'),
  duration: metrics.histogram(METRICS.putRecordsDuration),
  records: metrics.counter(METRICS.recordsShipped),
  aggregated: metrics.counter(METRICS.aggregatedRecordsShipped),
  events: metrics.counter(METRICS.eventsShipped),
  eventsPerRecord: metrics.histogram(METRICS.eventsPerRecord),
  latency: metrics.histogram(METRICS.deliveryLatency),
  retries: metrics.counter(METRICS.retries),
  mismatches: metrics.counter(METRICS.shardMismatches),
  expired: metrics.counter(METRICS.deadLettered, 'expired'),
  refused: metrics.counter(METRICS.deadLettered, 'refused'),
  mapOk: metrics.counter(METRICS.shardMapRefreshes, 'ok'),
  mapError: metrics.counter(METRICS.shardMapRefreshes, 'error'),
  failedByCode: new Map(RECORD_ERROR_CODES.map((code) => [code as string, metrics.counter(METRICS.recordsFailed, code)])),
  throttlesBySlot: SHARD_LABELS.map((label) => metrics.counter(METRICS.throttles, label)),
};

/** Kinesis errors come in bursts: one line per 10 s with a count says as much as a line per failure. */
class RateLimitedWarning {
  private since = 0;
  private last = 0;
  constructor(private readonly intervalMs: number) {}
  warn(fields: Record<string, unknown>, message: string, count = 1): void {
    this.since += count;
    const now = Date.now();
    if (now - this.last < this.intervalMs) return;
    log.warn({ ...fields, countSinceLastLog: this.since }, message);
    this.last = now;
    this.since = 0;
  }
}
const putWarning = new RateLimitedWarning(10_000);
const deadLetterWarning = new RateLimitedWarning(10_000);

function shardSlot(shardId: string): number {
  return Number(/(\d+)$/.exec(shardId)?.[1] ?? 0) % SHARD_SLOTS;
}

const counters: ShipperCounters = {
  putSucceeded(seconds) {
    m.putOk.inc();
    m.duration.observe(seconds);
  },
  putFailed(seconds, err) {
    m.putError.inc();
    m.duration.observe(seconds);
    const error = err as Error;
    putWarning.warn({ error: error.name, detail: error.message }, 'PutRecords failed; retrying with backoff');
  },
  recordFailed: (code) => (m.failedByCode.get(code) ?? m.failedByCode.get('other')!).inc(),
  retried: () => m.retries.inc(),
  shipped(record, nowMs) {
    const events = record.events.length;
    m.records.inc();
    m.events.inc(events);
    if (record.explicitHashKey) m.aggregated.inc();
    m.eventsPerRecord.observe(events);
    m.latency.observe(Math.max(0, nowMs - record.oldestReceivedAt) / 1000, events);
  },
  throttled: (shardId) => m.throttlesBySlot[shardSlot(shardId)].inc(),
  shardMismatch: () => m.mismatches.inc(),
  deadLettered(events, reason) {
    appendDeadLetters(data.deadLetterFile, events.map((e) => e.data));
    (reason === 'expired' ? m.expired : m.refused).inc(events.length);
    deadLetterWarning.warn({ reason, file: data.deadLetterFile }, 'events given up and written to the dead-letter file', events.length);
  },
};

const target: DeliveryTarget = {
  client,
  stream: data.stream,
  counters,
  shardMaps: new ShardMapCache(client, data.stream, log, { refreshed: (ok) => (ok ? m.mapOk : m.mapError).inc() }),
  // Each worker paces its own share: together they stay within the shard's limit.
  pacer: new ShardPacer(data.rateLimitPercent / 100 / data.workers),
  aggregationMaxBytes: data.aggregationMaxBytes,
  recordTtlMs: data.recordTtlMs,
  ordered: data.ordered,
};

export default async function shipBatch(batch: BatchDescriptor): Promise<number> {
  const records = readBatch(ring, batch.start, batch.end);
  if (records.length !== batch.count) throw new Error(`batch [${batch.start}, ${batch.end}) holds ${records.length} records, expected ${batch.count}`);
  const events: PendingEvent[] = records.map((r) => ({ partitionKey: r.partitionKey, data: r.data, receivedAt: receivedAtOf(r.data) }));
  await deliver(events, target);
  return events.length;
}
