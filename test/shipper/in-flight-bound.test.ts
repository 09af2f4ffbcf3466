// The bound on the ring bytes in flight: shards × 1 MiB/s × recent PutRecords latency, between a
// floor of one task per worker (1.5 MiB at most) and a latency ceiling; the latency read from the shared histogram.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { METRICS } from '../../src/metrics/metric-definitions';
import { SharedMetrics } from '../../src/metrics/shared-metrics';
import {
  bytesInFlightBound,
  FLOOR_BYTES_PER_WORKER,
  LATENCY_WINDOW_MS,
  MAX_LATENCY_S,
  putRecordsSnapshot,
  RecentPutLatency,
  taskBytesCap,
  windowMedianLatency,
} from '../../src/shipper/main-thread/in-flight-bound';

const MiB = 1024 * 1024;
// Kinesis's write limit per shard, written out: a test that took it from the source would follow a wrong constant there.
const SHARD_BYTES_PER_SECOND = MiB;
const shape = (shards: number) => ({ shards, workers: 2, maxTaskBytes: 4 * MiB });

describe('bytesInFlightBound', () => {
  it('is shards × 1 MiB/s × latency when that is above the floor', () => {
    assert.equal(bytesInFlightBound(shape(16), 2), 16 * SHARD_BYTES_PER_SECOND * 2);
    assert.equal(bytesInFlightBound(shape(16), 0.75), 12 * MiB);
    assert.equal(bytesInFlightBound(shape(10), 2.5), 25 * MiB);
  });

  it('is never below one task per worker of at most 1.5 MiB: a fast Kinesis, few shards, or nothing known yet', () => {
    assert.equal(FLOOR_BYTES_PER_WORKER, 1.5 * MiB);
    assert.equal(bytesInFlightBound(shape(4), 0.05), 3 * MiB, 'a catch-up into a fast Kinesis holds 1.5 MiB per worker');
    assert.equal(bytesInFlightBound(shape(4), 0.75), 3 * MiB, 'exactly the floor');
    assert.equal(bytesInFlightBound(shape(4), 1), 4 * MiB, 'above it');
    assert.equal(bytesInFlightBound(shape(0), 2), 3 * MiB, 'shards unknown');
    assert.equal(bytesInFlightBound(shape(16), 0), 3 * MiB, 'latency unknown');
    assert.equal(bytesInFlightBound({ shards: 16, workers: 3, maxTaskBytes: MiB }, 0.1), 3 * MiB, 'one full task per worker when tasks are smaller');
  });

  it('counts the latency up to the ceiling only', () => {
    assert.equal(MAX_LATENCY_S, 5);
    assert.equal(bytesInFlightBound(shape(16), 5), 80 * MiB);
    assert.equal(bytesInFlightBound(shape(16), 30), 80 * MiB);
    assert.equal(bytesInFlightBound(shape(16), Number.POSITIVE_INFINITY), 80 * MiB);
  });
});

describe('taskBytesCap', () => {
  it("is a worker's share of the bound, so that a catch-up at the floor keeps every worker busy", () => {
    assert.equal(taskBytesCap(shape(4), bytesInFlightBound(shape(4), 0.05)), 1.5 * MiB, 'the floor of 2 workers: 1.5 MiB each, not one 4 MiB task');
    assert.equal(taskBytesCap({ shards: 4, workers: 3, maxTaskBytes: 4 * MiB }, 6 * MiB), 2 * MiB);
  });

  it('is never more than a full task', () => {
    assert.equal(taskBytesCap(shape(16), bytesInFlightBound(shape(16), 2)), 4 * MiB, '32 MiB in flight: full 4 MiB tasks');
  });
});

/** A fresh shared-metrics buffer, and a way to record PutRecords calls in it as the workers do. */
function putRecordsMetrics() {
  const metrics = new SharedMetrics();
  const duration = metrics.histogram(METRICS.putRecordsDuration);
  const ok = metrics.counter(METRICS.putRecordsRequests, 'ok');
  const error = metrics.counter(METRICS.putRecordsRequests, 'error');
  return {
    metrics,
    calls(count: number, seconds: number, outcome: 'ok' | 'error' = 'ok') {
      for (let i = 0; i < count; i++) {
        (outcome === 'ok' ? ok : error).inc();
        duration.observe(seconds);
      }
    },
  };
}

describe('windowMedianLatency', () => {
  it("is the median of the window's calls, rounded up to its histogram bucket", () => {
    const p = putRecordsMetrics();
    p.calls(50, 0.01);
    const before = putRecordsSnapshot(p.metrics);
    p.calls(6, 2);
    p.calls(4, 0.03);
    assert.equal(windowMedianLatency(before, putRecordsSnapshot(p.metrics)), 2.5, 'the calls before the window do not count');
    const next = putRecordsSnapshot(p.metrics);
    p.calls(6, 0.03);
    p.calls(4, 2);
    assert.equal(windowMedianLatency(next, putRecordsSnapshot(p.metrics)), 0.05);
  });

  it('says nothing of a window without calls, or with as many failed calls as good ones', () => {
    const p = putRecordsMetrics();
    const start = putRecordsSnapshot(p.metrics);
    assert.equal(windowMedianLatency(start, putRecordsSnapshot(p.metrics)), undefined, 'no call');
    p.calls(3, 10, 'error');
    p.calls(3, 0.02);
    assert.equal(windowMedianLatency(start, putRecordsSnapshot(p.metrics)), undefined, 'an outage: calls hang until the timeout');
    p.calls(1, 0.02);
    assert.equal(windowMedianLatency(start, putRecordsSnapshot(p.metrics)), 0.025, 'more good calls than failed ones');
  });

  it('is Infinity for calls beyond the last bucket (the bound then counts the ceiling)', () => {
    const p = putRecordsMetrics();
    const start = putRecordsSnapshot(p.metrics);
    p.calls(2, 60);
    assert.equal(windowMedianLatency(start, putRecordsSnapshot(p.metrics)), Number.POSITIVE_INFINITY);
  });
});

describe('RecentPutLatency', () => {
  it('reads the histogram again once a window has passed, and keeps the last latency that says something', () => {
    const p = putRecordsMetrics();
    let now = 0;
    const latency = new RecentPutLatency(
      () => putRecordsSnapshot(p.metrics),
      () => now,
    );
    assert.equal(latency.seconds(), 0, 'nothing known yet');
    p.calls(10, 1.8);
    now = LATENCY_WINDOW_MS - 1;
    assert.equal(latency.seconds(), 0, 'the window is not over');
    now = LATENCY_WINDOW_MS;
    assert.equal(latency.seconds(), 2.5);
    p.calls(10, 5, 'error');
    now += LATENCY_WINDOW_MS;
    assert.equal(latency.seconds(), 2.5, 'a window of failures leaves it');
    now += LATENCY_WINDOW_MS;
    assert.equal(latency.seconds(), 2.5, 'so does an idle one');
    p.calls(10, 0.04);
    now += LATENCY_WINDOW_MS;
    assert.equal(latency.seconds(), 0.05, 'a fast Kinesis brings it down in one window');
  });
});
