// Sends records with PutRecords within the API's limits and retries exactly the entries that failed,
// with exponential backoff and full jitter, until every one is confirmed.

import { PutRecordsCommand, type KinesisClient, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RingRecord } from '../ring/ring-reader';

export const MAX_RECORDS_PER_REQUEST = 500;
export const MAX_BYTES_PER_REQUEST = 5 * 1024 * 1024;
/** Data plus partition key of one record. */
export const MAX_RECORD_BYTES = 1024 * 1024;

const BACKOFF_BASE_MS = 100;
const BACKOFF_CAP_MS = 5000;

export interface ShipperCounters {
  putSucceeded(seconds: number): void;
  putFailed(seconds: number, error: unknown): void;
  recordsShipped(count: number): void;
  recordFailed(errorCode: string): void;
  retried(): void;
}

export interface PutRecordsTarget {
  readonly client: KinesisClient;
  readonly stream: string;
  readonly counters: ShipperCounters;
}

/** Full jitter (the AWS architecture blog's variant): uniform in [0, min(cap, base * 2^attempt)). */
export function backoffMs(attempt: number, random = Math.random): number {
  return random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
}

function entrySize(record: RingRecord): number {
  return record.data.length + Buffer.byteLength(record.partitionKey);
}

/** Splits records into PutRecords requests of at most 500 records and 5 MiB. */
export function splitIntoRequests(records: readonly RingRecord[]): RingRecord[][] {
  const requests: RingRecord[][] = [];
  let current: RingRecord[] = [];
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

async function putUntilConfirmed(records: RingRecord[], target: PutRecordsTarget): Promise<void> {
  let pending = records;
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt > 0) {
      target.counters.retried();
      await sleep(backoffMs(attempt));
    }
    const entries: PutRecordsRequestEntry[] = pending.map((r) => ({ Data: r.data, PartitionKey: r.partitionKey }));
    const started = performance.now();
    let answer;
    try {
      answer = await target.client.send(new PutRecordsCommand({ StreamName: target.stream, Records: entries }));
    } catch (err) {
      target.counters.putFailed((performance.now() - started) / 1000, err);
      continue;
    }
    target.counters.putSucceeded((performance.now() - started) / 1000);
    const results = answer.Records ?? [];
    if (!answer.FailedRecordCount) {
      target.counters.recordsShipped(pending.length);
      return;
    }
    // Entries of the answer match the request by position.
    const failed: RingRecord[] = [];
    pending.forEach((record, i) => {
      const errorCode = results[i]?.ErrorCode;
      if (errorCode) {
        target.counters.recordFailed(errorCode);
        failed.push(record);
      }
    });
    target.counters.recordsShipped(pending.length - failed.length);
    pending = failed;
  }
}

export async function putRecords(records: readonly RingRecord[], target: PutRecordsTarget): Promise<void> {
  await Promise.all(splitIntoRequests(records).map((request) => putUntilConfirmed(request, target)));
}
