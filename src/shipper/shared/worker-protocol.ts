// What the main thread and the shipper worker threads pass each other: the data every worker starts
// with, and one task. Both threads import it (types only): it runs nowhere.
//
// Words: a batch is what the ring writer publishes; a task is the unit of work handed to a worker,
// one or more batches that lie next to each other in the ring; an event is confirmed once Kinesis
// answered its PutRecords entry with success, and dead-lettered once given up to the dead-letter file.

import type { KinesisTarget } from '../../kinesis-client';
import type { BatchDescriptor } from '../../ring/ring-writer';

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
  /** Infinity: no TTL (with a spool, by default). */
  readonly recordTtlMs: number;
  readonly deadLetterFile: string;
  readonly ordered: boolean;
}

/** One task: the ring bytes [start, end) holding `count` records. Only these numbers cross threads; the worker reads the bytes. */
/** What each pool thread starts with: the gateway's settings, and the Shipper's own shared state. */
export interface PoolWorkerData extends ShipperWorkerData {
  /** One Int32 slot: the open shards of the stream, stored by the workers when they read the shard map; 0 until then. */
  readonly shardCount: SharedArrayBuffer;
}

export type Task = Pick<BatchDescriptor, 'start' | 'end' | 'count'>;

/** What a task resolves with: the positions (within the task) of the events dead-lettered; every other one is confirmed. */
export type TaskResult = number[];
