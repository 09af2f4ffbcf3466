import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Run } from '../../bench/measure';
import { deliveredAll, summarizeRuns } from '../../bench/report';

/** A run at 10,000 req/s whose main thread took `us` µs per request. */
function run(us: number, requestsPerS = 10_000): Run {
  return {
    rate: 10_000,
    requestsPerS,
    eventsPerS: requestsPerS,
    p50Ms: 1,
    p99Ms: 10,
    errors: 0,
    non2xx: 0,
    non2xxByStatus: {},
    acknowledged: requestsPerS * 10,
    warmUpAcknowledged: requestsPerS * 2,
    windowS: 10,
    mainThreadCpuPercent: (us * requestsPerS) / 1e4,
    otherThreadsCpuPercent: 0,
    localKinesisCpuPercent: 0,
    loadGeneratorCpuPercent: 20,
    machineCpuPercent: 20,
    mainThreadUsPerRequest: us,
    otherThreadsUsPerEvent: 0,
    localKinesisUsPerEvent: 0,
    loadGeneratorUsPerRequest: 20,
    serverUsPerEvent: us,
  };
}

describe('bench --only summary', () => {
  it("gives each scenario's medians, and its main-thread CPU per request over bare's from the medians", () => {
    const summary = summarizeRuns({
      bare: [run(10), run(12, 9_990), run(11, 10_020)],
      single: [run(14), run(13.2), run(20)],
    });
    assert.match(summary, /^bare: main thread 11\.0 µs\/request ±9\.1%, 10,000 req\/s \(median of 3\)$/m);
    assert.match(summary, /^single: main thread 14\.0 µs\/request ±42\.9%, 10,000 req\/s \(median of 3\)$/m);
    // 14 / 11, not the mean of the runs' own ratios (1.4, 1.1, 1.818...).
    assert.match(summary, /^single ÷ bare, main-thread CPU per request: 1\.273$/m);
  });

  it('says nothing of a ratio when bare did not run', () => {
    const summary = summarizeRuns({ single: [run(14), run(15)] });
    assert.doesNotMatch(summary, /÷/);
    assert.match(summary, /single: main thread 15\.0 µs\/request/, 'of two runs, the upper one (as the report takes medians)');
  });
});

describe('bench delivery check', () => {
  it("counts the warm-up's events among those the stream must hold", () => {
    const measured = run(10);
    assert.equal(deliveredAll({ ...measured, delivered: measured.acknowledged }), false, 'the warm-up events are missing');
    assert.equal(deliveredAll({ ...measured, delivered: measured.warmUpAcknowledged + measured.acknowledged }), true);
    assert.equal(deliveredAll({ ...measured, delivered: measured.warmUpAcknowledged + measured.acknowledged + 64 }), true, 'answered after the count stopped');
  });
});
