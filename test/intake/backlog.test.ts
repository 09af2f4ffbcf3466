// The ring's backlog: counts of unsettled events and the receipt time of the oldest, with batches
// settled out of order.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backlog } from '../../src/intake/backlog';

describe('Backlog', () => {
  it('knows the oldest unsettled event as batches settle in any order', () => {
    const backlog = new Backlog();
    assert.equal(backlog.oldestReceivedAt, undefined);
    backlog.written(0, 10, 1_000);
    backlog.written(10, 10, 1_500); // same second: same bucket
    backlog.written(20, 5, 3_000);
    backlog.written(25, 5, 5_000);
    assert.equal(backlog.eventsInRing, 30);
    assert.equal(backlog.oldestReceivedAt, 1_000);
    backlog.settled(20, 5); // a later batch first
    assert.equal(backlog.oldestReceivedAt, 1_000);
    backlog.settled(0, 15);
    assert.equal(backlog.oldestReceivedAt, 1_000, 'five events of the first bucket are left');
    backlog.settled(15, 5);
    assert.equal(backlog.oldestReceivedAt, 5_000);
    assert.equal(backlog.eventsInRing, 5);
    backlog.settled(25, 5);
    assert.equal(backlog.oldestReceivedAt, undefined);
    assert.equal(backlog.eventsInRing, 0);
    backlog.written(30, 1, 9_000);
    assert.equal(backlog.oldestReceivedAt, 9_000);
  });

  it('stays small over a long run', () => {
    const backlog = new Backlog();
    for (let i = 0; i < 100_000; i++) {
      backlog.written(i, 1, i * 10);
      if (i >= 100) backlog.settled(i - 100, 1);
    }
    assert.equal(backlog.eventsInRing, 100);
    assert.ok(backlog.oldestReceivedAt! >= 998_000 && backlog.oldestReceivedAt! <= 999_000);
  });
});
