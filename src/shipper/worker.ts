// A piscina worker: ships the records of one ring batch per task. The batch's bytes are read from
// shared memory; the task carries only the region.

import { workerData } from 'piscina';
import { createKinesisClient, type KinesisTarget } from '../kinesis-client';
import { RECORD_ERROR_CODES, METRICS } from '../metrics/metric-definitions';
import { SharedMetrics } from '../metrics/shared-metrics';
import { readBatch } from '../ring/ring-reader';
import { RingViews } from '../ring/ring-layout';
import type { BatchDescriptor } from '../ring/ring-writer';
import { putRecords, type ShipperCounters } from './put-records';
import { createLogger } from '../log';

export interface ShipperWorkerData {
  readonly ring: SharedArrayBuffer;
  readonly metrics: SharedArrayBuffer;
  readonly kinesis: KinesisTarget;
  readonly stream: string;
  readonly logLevel: string;
}

const data = workerData as ShipperWorkerData;
const ring = new RingViews(data.ring);
const client = createKinesisClient(data.kinesis);
const log = createLogger(data.logLevel).child({ thread: 'shipper' });
const metrics = new SharedMetrics(data.metrics);
const putOk = metrics.counter(METRICS.putRecordsRequests, 'ok');
const putError = metrics.counter(METRICS.putRecordsRequests, 'error');
const duration = metrics.histogram(METRICS.putRecordsDuration);
const shipped = metrics.counter(METRICS.recordsShipped);
const retries = metrics.counter(METRICS.retries);
const failedByCode = new Map(RECORD_ERROR_CODES.map((code) => [code as string, metrics.counter(METRICS.recordsFailed, code)]));

// Kinesis errors come in bursts; one line per 10 s with a count says as much as a line per failure.
const ERROR_LOG_INTERVAL_MS = 10_000;
let errorsSinceLog = 0;
let lastErrorLog = 0;

function logRequestError(err: unknown): void {
  errorsSinceLog++;
  const now = Date.now();
  if (now - lastErrorLog < ERROR_LOG_INTERVAL_MS) return;
  const error = err as { name?: string; message?: string };
  log.warn({ error: error.name, detail: error.message, failuresSinceLastLog: errorsSinceLog }, 'PutRecords failed; retrying with backoff');
  lastErrorLog = now;
  errorsSinceLog = 0;
}

const counters: ShipperCounters = {
  putSucceeded(seconds) {
    putOk.inc();
    duration.observe(seconds);
  },
  putFailed(seconds, err) {
    putError.inc();
    duration.observe(seconds);
    logRequestError(err);
  },
  recordsShipped: (count) => shipped.inc(count),
  recordFailed: (code) => (failedByCode.get(code) ?? failedByCode.get('other')!).inc(),
  retried: () => retries.inc(),
};

export default async function shipBatch(batch: BatchDescriptor): Promise<number> {
  const records = readBatch(ring, batch.start, batch.end);
  if (records.length !== batch.count) throw new Error(`batch [${batch.start}, ${batch.end}) holds ${records.length} records, expected ${batch.count}`);
  await putRecords(records, { client, stream: data.stream, counters });
  return records.length;
}
