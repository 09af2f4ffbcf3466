import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecordOwners } from '../../src/ring/record-owners';

describe('record owners', () => {
  it('tells each owner its share of batches settled out of order, across run boundaries', () => {
    const shares: [string, number, number][] = [];
    const owners = new RecordOwners<string>((owner, settled, givenUp) => shares.push([owner, settled, givenUp]));
    owners.assign(0, 3, 'a'); // 0..2
    owners.assign(3, 2, 'b'); // 3..4
    owners.assign(5, 4, 'a'); // 5..8: a again, but not adjacent to its first run
    // records 9..10 belong to no one
    owners.assign(11, 2, 'c');
    owners.settle(4, 6, [5, 9]); // 4..9
    owners.settle(0, 4, []);
    owners.settle(10, 3, [12]);
    const totals = new Map<string, [number, number]>();
    for (const [owner, settled, givenUp] of shares) {
      const [s, g] = totals.get(owner) ?? [0, 0];
      totals.set(owner, [s + settled, g + givenUp]);
    }
    assert.deepEqual(Object.fromEntries(totals), { a: [7, 1], b: [2, 0], c: [2, 1] });
    assert.deepEqual(shares.slice(0, 2), [
      ['b', 1, 0],
      ['a', 4, 1],
    ]);
  });

  it('merges adjacent assignments of one owner and stays correct over many runs', () => {
    const settledBy = new Map<number, number>();
    const owners = new RecordOwners<number>((owner, settled) => settledBy.set(owner, (settledBy.get(owner) ?? 0) + settled));
    let seq = 0;
    const sizes: number[] = [];
    for (let owner = 0; owner < 5000; owner++) {
      const count = 1 + (owner % 7);
      owners.assign(seq, count, owner);
      owners.assign(seq + count, 1, owner); // adjacent: extends the same run
      sizes.push(count + 1);
      seq += count + 1;
    }
    // Settle in batches of 13, the odd batches first.
    const batches: [number, number][] = [];
    for (let first = 0; first < seq; first += 13) batches.push([first, Math.min(13, seq - first)]);
    for (const [first, count] of batches.filter((_, i) => i % 2 === 1)) owners.settle(first, count, []);
    for (const [first, count] of batches.filter((_, i) => i % 2 === 0)) owners.settle(first, count, []);
    for (const [owner, size] of sizes.entries()) assert.equal(settledBy.get(owner), size, `owner ${owner}`);
  });
});
