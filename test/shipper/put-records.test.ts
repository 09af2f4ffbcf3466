import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RingRecord } from '../../src/ring/ring-reader';
import { backoffMs, splitIntoRequests } from '../../src/shipper/worker-thread/put-records';

// The limits of Kinesis PutRecords, written out here: a test that took them from the source would
// follow a wrong constant there.
const KINESIS_MAX_RECORD_BYTES = 1024 * 1024;
const KINESIS_MAX_REQUEST_BYTES = 5 * 1024 * 1024;

const record = (bytes: number, key = 'k'): RingRecord => ({ partitionKey: key, data: new Uint8Array(bytes) });

describe('PutRecords request limits', () => {
  it('puts at most 500 records in one request', () => {
    const requests = splitIntoRequests(Array.from({ length: 1201 }, () => record(10)));
    assert.deepEqual(
      requests.map((r) => r.length),
      [500, 500, 201],
    );
  });

  it('keeps each request within 5 MiB of data and partition keys', () => {
    const requests = splitIntoRequests(Array.from({ length: 12 }, () => record(1024 * 1024 - 100, 'x'.repeat(50))));
    for (const request of requests) {
      const bytes = request.reduce((n, r) => n + r.data.length + r.partitionKey.length, 0);
      assert.ok(bytes <= KINESIS_MAX_REQUEST_BYTES, `${bytes} bytes`);
    }
    assert.deepEqual(
      requests.map((r) => r.length),
      [5, 5, 2],
    );
  });

  it('fills a request up to exactly 5 MiB, and not a byte more', () => {
    const oneMiB = record(KINESIS_MAX_RECORD_BYTES - 1, 'k');
    const requests = splitIntoRequests([oneMiB, oneMiB, oneMiB, oneMiB, oneMiB, record(1)]);
    assert.equal(
      requests[0].reduce((n, r) => n + r.data.length + r.partitionKey.length, 0),
      KINESIS_MAX_REQUEST_BYTES,
    );
    assert.deepEqual(
      requests.map((r) => r.length),
      [5, 1],
    );
  });

  it('refuses a record over 1 MiB counting its partition key', () => {
    assert.throws(() => splitIntoRequests([record(KINESIS_MAX_RECORD_BYTES - 2, 'abc')]), /exceeds the Kinesis limit/);
    assert.equal(splitIntoRequests([record(KINESIS_MAX_RECORD_BYTES - 3, 'abc')]).length, 1);
  });
});

describe('backoff', () => {
  it('is full jitter: uniform below an exponentially growing cap of at most 5 s', () => {
    assert.equal(
      backoffMs(1, () => 0),
      0,
    );
    assert.equal(backoffMs(1, () => 0.999999) < 200, true);
    assert.ok(backoffMs(3, () => 0.5) === 400);
    assert.equal(
      backoffMs(30, () => 0.5),
      2500,
    );
  });
});
