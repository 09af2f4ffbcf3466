// Runs in a shipper worker thread: the module piscina starts each thread with.
//
// A piscina worker: ships the events of one task at a time (or several, --batches-per-worker). The
// task carries only where its records lie in the ring; their bytes are read from shared memory.

import { workerData } from 'piscina';
import { receivedAtOf } from '../../events/envelope';
import { createKinesisClient } from '../../kinesis-client';
import { createLogger } from '../../log';
import { METRICS, RECORD_ERROR_CODES, SHARD_LABELS, SHARD_SLOTS } from '../../metrics/metric-definitions';
import { SharedMetrics } from '../../metrics/shared-metrics';
import { RingViews } from '../../ring/ring-layout';
import { readBatch } from '../../ring/ring-reader';
import { appendDeadLetters } from '../shared/dead-letter';
import type { PoolWorkerData, Task, TaskResult } from '../shared/worker-protocol';
import type { PendingEvent } from './aggregator';
import { deliver, type DeliveryTarget, type GivenUp, type ShipperCounters } from './put-records';
import { ShardMapCache } from './shard-map-cache';
import { ShardPacer } from './shard-pacer';

const data = workerData as PoolWorkerData;
const shardCount = new Int32Array(data.shardCount);
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
  confirmed(record, nowMs) {
    const events = record.events.length;
    m.records.inc();
    m.events.inc(events);
    if (record.explicitHashKey) m.aggregated.inc();
    m.eventsPerRecord.observe(events);
    m.latency.observe(Math.max(0, nowMs - record.oldestReceivedAt) / 1000, events);
  },
  throttled: (shardId) => m.throttlesBySlot[shardSlot(shardId)].inc(),
  shardMismatch: () => m.mismatches.inc(),
};

/** Writes the events given up to the dead-letter file, counted; returns their positions among `events`. */
function deadLetter(events: readonly PendingEvent[], givenUp: readonly GivenUp[]): number[] {
  if (givenUp.length === 0) return [];
  // Given-up events carry the data views of `events` (maybe in copied objects): found by that view.
  const positionOf = new Map(events.map((event, i) => [event.data, i]));
  const positions: number[] = [];
  for (const { events: lost, reason } of givenUp) {
    for (const event of lost) positions.push(positionOf.get(event.data)!);
    (reason === 'expired' ? m.expired : m.refused).inc(lost.length);
    deadLetterWarning.warn({ reason, file: data.deadLetterFile }, 'events given up and written to the dead-letter file', lost.length);
  }
  appendDeadLetters(
    data.deadLetterFile,
    givenUp.flatMap((g) => g.events.map((e) => e.data)),
  );
  return positions.sort((a, b) => a - b);
}

const target: DeliveryTarget = {
  client,
  stream: data.stream,
  counters,
  shardMaps: new ShardMapCache(client, data.stream, log, {
    refreshed(ok, shards) {
      (ok ? m.mapOk : m.mapError).inc();
      Atomics.store(shardCount, 0, shards); // the main thread bounds the bytes in flight by it
    },
  }),
  // Each worker paces its own share: together they stay within the shard's limit.
  pacer: new ShardPacer(data.rateLimitPercent / 100 / data.workers),
  aggregationMaxBytes: data.aggregationMaxBytes,
  recordTtlMs: data.recordTtlMs,
  ordered: data.ordered,
};

/** The events of a task, read from the ring: views into shared memory, valid until the task resolves. */
export function readTask(task: Task): PendingEvent[] {
  const records = readBatch(ring, task.start, task.end);
  if (records.length !== task.count) throw new Error(`task [${task.start}, ${task.end}) holds ${records.length} records, expected ${task.count}`);
  return records.map((r) => ({ partitionKey: r.partitionKey, data: r.data, receivedAt: receivedAtOf(r.data) }));
}

/** Ships events until each is confirmed or dead-lettered; resolves with the positions of those dead-lettered. */
export async function shipEvents(events: readonly PendingEvent[]): Promise<TaskResult> {
  return deadLetter(events, await deliver(events, target));
}

/** Ships one task; resolves with the positions (within the task) of the events dead-lettered instead. */
export default async function shipTask(task: Task): Promise<TaskResult> {
  return shipEvents(readTask(task));
}
