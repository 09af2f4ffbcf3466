// What the main thread and the shipper worker threads pass each other: the data every worker starts
// with, and one task. Both threads import it (types only): it runs nowhere.

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

export type ShipTask = Pick<BatchDescriptor, 'start' | 'end' | 'count'>;
