// The receipt-time marks behind the spool's oldestUnloadedAt, on real segments' counters.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Segment, SegmentTotals } from '../../src/spool/segment';
import { UnloadedAges } from '../../src/spool/unloaded-ages';

describe('ages of the events waiting in the spool', () => {
  it('is the oldest mark whose bytes the ring has not taken, and undefined once all are taken', () => {
    const totals = new SegmentTotals();
    const earlier = Segment.leftByEarlierRun(1, 'segment-000000000001.log', 100, 2, totals);
    const current = new Segment(2, 'segment-000000000002.log', false, totals);
    const ages = new UnloadedAges();
    ages.leftByEarlierRun(earlier, 1_000);
    const before = Date.now();
    current.appendedSpilled(50, 1);
    ages.spilled(current);
    current.appendedSpilled(50, 1);
    ages.spilled(current); // within the same second: the first mark now reaches the end of both
    const after = Date.now();
    assert.equal(ages.oldest, 1_000, "the earlier run's last write stands for its events");

    earlier.consumed(100);
    const oldest = ages.oldest!;
    assert.ok(oldest >= before && oldest <= after, `${oldest} is when the first event of this run spilled`);
    current.consumed(60);
    assert.equal(ages.oldest, oldest, 'the mark covers the second spill too');
    current.consumed(40);
    assert.equal(ages.oldest, undefined);
  });
});
