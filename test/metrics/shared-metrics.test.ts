import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { METRICS } from '../../src/metrics/metric-definitions';
import { SharedMetrics } from '../../src/metrics/shared-metrics';

/** The shared cells as another thread sees them: no flush of this thread's local counts. */
function cellTotal(metrics: SharedMetrics): bigint {
  return new BigInt64Array(metrics.buffer).reduce((sum, cell) => sum + cell, 0n);
}

describe('shared metrics', () => {
  it('add a shared counter at once', () => {
    const metrics = new SharedMetrics();
    metrics.counter(METRICS.eventsAccepted).inc(5);
    assert.equal(cellTotal(metrics), 5n);
    assert.equal(metrics.total(METRICS.eventsAccepted), 5);
  });

  it('keep a local counter in this thread until it reads the metrics, then count every increment once', () => {
    const metrics = new SharedMetrics();
    const accepted = metrics.localCounter(METRICS.eventsAccepted);
    accepted.inc();
    accepted.inc(20);
    assert.equal(cellTotal(metrics), 0n, 'not in the shared cells yet');
    assert.equal(metrics.total(METRICS.eventsAccepted), 21);
    assert.equal(cellTotal(metrics), 21n, 'added by the read');
    accepted.inc(2);
    // Any reader of this thread flushes, also one made later over the same buffer.
    assert.equal(new SharedMetrics(metrics.buffer).total(METRICS.eventsAccepted), 23);
    assert.equal(metrics.total(METRICS.eventsAccepted), 23, 'not counted twice');
  });

  it('keep a local histogram until read: buckets, count and sum as observed', () => {
    const metrics = new SharedMetrics();
    const duration = metrics.localHistogram(METRICS.requestDuration);
    const observed = [0.00001, 0.2, 0.2, 30];
    for (const value of observed) duration.observe(value);
    assert.equal(cellTotal(metrics), 0n);
    const samples = metrics.samples(METRICS.requestDuration);
    const value = (name: string, le?: string) => samples.find((s) => s.metricName === name && s.labels.le === le)?.value;
    assert.equal(value('gateway_request_duration_seconds_count'), observed.length);
    assert.ok(Math.abs(value('gateway_request_duration_seconds_sum')! - 30.40001) < 1e-6);
    assert.equal(value('gateway_request_duration_seconds_bucket', '+Inf'), observed.length);
    for (const sample of samples.filter((s) => s.metricName.endsWith('_bucket') && s.labels.le !== '+Inf')) {
      const le = Number(sample.labels.le);
      assert.equal(sample.value, observed.filter((v) => v <= le).length, `le=${le}`);
    }
  });
});
