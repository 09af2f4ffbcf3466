// Runs in a shipper worker thread (and on the main thread of `replay`, which ships without a pool).
//
// Delivers events with PutRecords until each is confirmed or given up (the caller keeps those):
// - within the API's limits (≤ 500 records, ≤ 5 MiB per call, ≤ 1 MiB per record);
// - paced per shard;
// - resending exactly the failed entries (matched by position) and whole failed calls, with
//   exponential backoff and full jitter; validation errors are not retried;
// - an aggregate that lands on another shard than predicted (the stream was resharded) is
//   regrouped on a fresh shard map and resent: a duplicate is better than a loss;
// - an event older than the record TTL is given up as expired. With a spool there is
//   no TTL unless the operator sets one (Infinity): retryable failures are retried until Kinesis
//   answers, while the ring they hold is bounded and new events wait in the spool behind them.

import type { KinesisClient, PutRecordsCommandOutput } from '@aws-sdk/client-kinesis';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_BYTES_PER_REQUEST, MAX_RECORD_BYTES, MAX_RECORDS_PER_REQUEST } from '../../kinesis-limits';
import { buildRecords, type OutboundRecord, type PendingEvent } from './aggregator';
import { encodePutRecordsBody, putRecordsCommand } from './put-records-body';
import type { ShardMap } from './shard-map';
import type { ShardPacer } from './shard-pacer';

const BACKOFF_BASE_MS = 100;
const BACKOFF_CAP_MS = 5000;

/** Entry error codes worth another try; any other code is final. */
const RETRYABLE_ENTRY_CODES = new Set(['ProvisionedThroughputExceededException', 'InternalFailure', 'ServiceUnavailable']);
/** Whole-call errors that retrying cannot fix: the request itself is wrong. */
const FINAL_CALL_ERRORS = new Set(['ValidationException', 'InvalidArgumentException', 'SerializationException']);

export interface ShipperCounters {
  putSucceeded(seconds: number): void;
  putFailed(seconds: number, error: unknown): void;
  recordFailed(errorCode: string): void;
  retried(): void;
  /** Kinesis confirmed the record (and so every event in it). */
  confirmed(record: OutboundRecord, nowMs: number): void;
  throttled(shardId: string): void;
  shardMismatch(): void;
}

/** Events given up on, and why: `expired` (older than the TTL) or the error Kinesis refused them with for good. */
export interface GivenUp {
  readonly events: readonly PendingEvent[];
  readonly reason: string;
}

export interface ShardMapSource {
  /** The current map, or undefined when it cannot be had (then nothing is aggregated). */
  get(): Promise<ShardMap | undefined>;
  /** Forces a fresh ListShards before the next use. */
  invalidate(): void;
}

export interface DeliveryTarget {
  readonly client: KinesisClient;
  readonly stream: string;
  readonly counters: ShipperCounters;
  readonly shardMaps: ShardMapSource;
  readonly pacer: ShardPacer;
  /** 0 turns aggregation off. */
  readonly aggregationMaxBytes: number;
  /** Age past which an event is given up as `expired`; Infinity: never (retry until confirmed or refused for good). */
  readonly recordTtlMs: number;
  /** Keep each shard's records in the order received (one record in flight per shard). */
  readonly ordered?: boolean;
  readonly now?: () => number;
}

/** Full jitter (the AWS architecture blog's variant): uniform in [0, min(cap, base * 2^attempt)). */
export function backoffMs(attempt: number, random = Math.random): number {
  return random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
}

function entrySize(record: Pick<OutboundRecord, 'data' | 'partitionKey'>): number {
  return record.data.length + Buffer.byteLength(record.partitionKey);
}

/** Splits records into PutRecords requests of at most 500 records and 5 MiB. */
export function splitIntoRequests<R extends Pick<OutboundRecord, 'data' | 'partitionKey'>>(records: readonly R[]): R[][] {
  const requests: R[][] = [];
  let current: R[] = [];
  let bytes = 0;
  for (const record of records) {
    const size = entrySize(record);
    if (size > MAX_RECORD_BYTES) throw new Error(`record of ${size} bytes exceeds the Kinesis limit of ${MAX_RECORD_BYTES}`);
    if (current.length === MAX_RECORDS_PER_REQUEST || bytes + size > MAX_BYTES_PER_REQUEST) {
      requests.push(current);
      current = [];
      bytes = 0;
    }
    current.push(record);
    bytes += size;
  }
  if (current.length > 0) requests.push(current);
  return requests;
}

interface SendOutcome {
  retry: OutboundRecord[];
  regroup: PendingEvent[];
  givenUp: GivenUp[];
}

/** Waits until every shard of the request has capacity for its records. */
async function pace(request: readonly OutboundRecord[], pacer: ShardPacer): Promise<void> {
  const perShard = new Map<string, { records: number; bytes: number }>();
  for (const record of request) {
    if (!record.shardId) continue;
    const sums = perShard.get(record.shardId) ?? { records: 0, bytes: 0 };
    sums.records++;
    sums.bytes += entrySize(record);
    perShard.set(record.shardId, sums);
  }
  let wait = 0;
  for (const [shardId, { records, bytes }] of perShard) wait = Math.max(wait, pacer.reserve(shardId, records, bytes));
  if (wait > 0) await sleep(wait);
}

async function sendOnce(request: OutboundRecord[], target: DeliveryTarget): Promise<SendOutcome> {
  const { counters } = target;
  const outcome: SendOutcome = { retry: [], regroup: [], givenUp: [] };
  await pace(request, target.pacer);
  const started = performance.now();
  let answer: PutRecordsCommandOutput;
  try {
    answer = await target.client.send(putRecordsCommand(target.stream, encodePutRecordsBody(target.stream, request)));
  } catch (err) {
    counters.putFailed((performance.now() - started) / 1000, err);
    const name = (err as Error).name;
    if (FINAL_CALL_ERRORS.has(name)) outcome.givenUp = request.map((record) => ({ events: record.events, reason: name }));
    else outcome.retry = request;
    return outcome;
  }
  counters.putSucceeded((performance.now() - started) / 1000);
  const results = answer.Records ?? [];
  const now = (target.now ?? Date.now)();
  request.forEach((record, i) => {
    const result = results[i];
    const errorCode = result?.ErrorCode ?? (result ? undefined : 'InternalFailure');
    if (!errorCode) {
      if (record.shardId && result.ShardId && result.ShardId !== record.shardId) {
        counters.shardMismatch();
        target.shardMaps.invalidate();
        // A raw record is fine on any shard; an aggregate off its range would be dropped by the KCL.
        if (record.explicitHashKey) {
          outcome.regroup.push(...record.events);
          return;
        }
      }
      counters.confirmed(record, now);
      return;
    }
    counters.recordFailed(errorCode);
    if (errorCode === 'ProvisionedThroughputExceededException' && record.shardId) {
      counters.throttled(record.shardId);
      target.pacer.throttled(record.shardId);
    }
    if (RETRYABLE_ENTRY_CODES.has(errorCode)) outcome.retry.push(record);
    else outcome.givenUp.push({ events: record.events, reason: errorCode });
  });
  return outcome;
}

/** Splits records into one queue per shard, each in the order of its events. */
function queuesByShard(records: readonly OutboundRecord[]): Map<string, OutboundRecord[]> {
  const queues = new Map<string, OutboundRecord[]>();
  for (const record of records) {
    const key = record.shardId ?? '';
    const queue = queues.get(key);
    if (queue) queue.push(record);
    else queues.set(key, [record]);
  }
  return queues;
}

/**
 * Ordered delivery: each step sends the head record of every shard that is not backing off, so a
 * record is put only once the one before it on its shard is confirmed. A shard that fails backs
 * off alone. If a record lands off its predicted shard, everything not yet confirmed is regrouped
 * on a fresh map, still in order.
 */
async function deliverInOrder(events: readonly PendingEvent[], target: DeliveryTarget): Promise<GivenUp[]> {
  const now = target.now ?? Date.now;
  const givenUp: GivenUp[] = [];
  const arrival = new Map(events.map((event, i) => [event, i]));
  let queues = queuesByShard(buildRecords(events, await target.shardMaps.get(), target.aggregationMaxBytes));
  const failures = new Map<string, number>();
  const notBefore = new Map<string, number>();
  while (queues.size > 0) {
    const cutoff = now() - target.recordTtlMs;
    const step: OutboundRecord[] = [];
    let wake = Number.POSITIVE_INFINITY;
    for (const [shard, queue] of queues) {
      while (queue.length > 0 && queue[0].oldestReceivedAt < cutoff) givenUp.push({ events: queue.shift()!.events, reason: 'expired' });
      if (queue.length === 0) queues.delete(shard);
      else if ((notBefore.get(shard) ?? 0) <= now()) step.push(queue[0]);
      else wake = Math.min(wake, notBefore.get(shard)!);
    }
    if (step.length === 0) {
      if (queues.size > 0) await sleep(Math.max(0, wake - now()));
      continue;
    }
    const outcomes = await Promise.all(splitIntoRequests(step).map((request) => sendOnce(request, target)));
    for (const outcome of outcomes) givenUp.push(...outcome.givenUp);
    const retry = new Set(outcomes.flatMap((o) => o.retry));
    const regroup = outcomes.some((o) => o.regroup.length > 0);
    for (const record of step) {
      const shard = record.shardId ?? '';
      if (retry.has(record)) {
        const failed = (failures.get(shard) ?? 0) + 1;
        failures.set(shard, failed);
        notBefore.set(shard, now() + backoffMs(failed));
        target.counters.retried();
      } else {
        failures.delete(shard);
        notBefore.delete(shard);
        queues.get(shard)?.shift(); // confirmed, given up, or to be regrouped below
      }
    }
    if (regroup) {
      const regrouped = outcomes.flatMap((o) => o.regroup);
      const rest = [...queues.values()].flat().flatMap((r) => r.events);
      const inArrivalOrder = [...regrouped, ...rest].sort((a, b) => arrival.get(a)! - arrival.get(b)!);
      queues = queuesByShard(buildRecords(inArrivalOrder, await target.shardMaps.get(), target.aggregationMaxBytes));
      failures.clear();
      notBefore.clear();
    }
  }
  return givenUp;
}

/**
 * Resolves once every event is confirmed by Kinesis or given up, with those given up: the caller
 * writes them where they are kept (the dead-letter file; replay's refused file). The aggregator may
 * copy event objects but never their `data`: a caller finds a given-up event among its own by that view.
 */
export async function deliver(events: readonly PendingEvent[], target: DeliveryTarget): Promise<GivenUp[]> {
  if (target.ordered) return deliverInOrder(events, target);
  const now = target.now ?? Date.now;
  const givenUp: GivenUp[] = [];
  let pending = buildRecords(events, await target.shardMaps.get(), target.aggregationMaxBytes);
  for (let attempt = 0; pending.length > 0; attempt++) {
    const cutoff = now() - target.recordTtlMs;
    const live: OutboundRecord[] = [];
    for (const record of pending) {
      if (record.oldestReceivedAt >= cutoff) live.push(record);
      else givenUp.push({ events: record.events, reason: 'expired' });
    }
    if (live.length === 0) break;
    if (attempt > 0) {
      target.counters.retried();
      await sleep(backoffMs(attempt));
    }
    const outcomes = await Promise.all(splitIntoRequests(live).map((request) => sendOnce(request, target)));
    pending = outcomes.flatMap((o) => o.retry);
    for (const outcome of outcomes) givenUp.push(...outcome.givenUp);
    const regroup = outcomes.flatMap((o) => o.regroup);
    if (regroup.length > 0) pending.push(...buildRecords(regroup, await target.shardMaps.get(), target.aggregationMaxBytes));
  }
  return givenUp;
}
