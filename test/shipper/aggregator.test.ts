import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildRecords, type PendingEvent } from '../../src/shipper/worker-thread/aggregator';
import { hashKeyOf, ShardMap } from '../../src/shipper/worker-thread/shard-map';
import { referenceDeaggregate } from '../support/kinesis-agg';

const MAX_HASH = 2n ** 128n - 1n;
/** Four shards splitting the hash space evenly, as CreateStream makes them. */
const fourShards = new ShardMap(
  Array.from({ length: 4 }, (_, i) => ({
    id: `shardId-00000000000${i}`,
    startingHashKey: (MAX_HASH / 4n) * BigInt(i),
    endingHashKey: i === 3 ? MAX_HASH : (MAX_HASH / 4n) * BigInt(i + 1) - 1n,
  })),
);

function shardRange(id: string): [bigint, bigint] {
  const i = Number(id.slice(-1));
  return [(MAX_HASH / 4n) * BigInt(i), i === 3 ? MAX_HASH : (MAX_HASH / 4n) * BigInt(i + 1) - 1n];
}

function pending(n: number, dataBytes = 200): PendingEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    partitionKey: `event-${i}`,
    data: Buffer.from(JSON.stringify({ i }).padEnd(dataBytes, ' ')),
    receivedAt: 1000 + i,
  }));
}

describe('buildRecords', () => {
  it('keeps every user record of an aggregate inside the range of the shard it is sent to', () => {
    const records = buildRecords(pending(5000), fourShards, 50 * 1024);
    let events = 0;
    for (const record of records) {
      const [start, end] = shardRange(record.shardId!);
      assert.ok(record.explicitHashKey, 'aggregates carry an ExplicitHashKey');
      const explicit = BigInt(record.explicitHashKey);
      assert.ok(explicit >= start && explicit <= end, 'the ExplicitHashKey lands on the predicted shard');
      for (const user of referenceDeaggregate(record.data, record.partitionKey)) {
        const hash = hashKeyOf(user.partitionKey);
        assert.ok(hash >= start && hash <= end, `${user.partitionKey} belongs to ${record.shardId}`);
        events++;
      }
    }
    assert.equal(events, 5000);
  });

  it('never exceeds the size limit, counting magic, MD5 and the outer partition key', () => {
    for (const max of [1024, 5000, 50 * 1024]) {
      for (const record of buildRecords(pending(3000, 150), fourShards, max)) {
        assert.ok(record.data.length + Buffer.byteLength(record.partitionKey) <= max, `${record.data.length} + key within ${max}`);
      }
    }
  });

  it('packs 200-byte events with 36-character keys (the event ids) at least 200 to a 50 KiB record', () => {
    const events = pending(20_000, 200).map((e) => ({ ...e, partitionKey: e.partitionKey.padEnd(36, '-') }));
    const records = buildRecords(events, fourShards, 50 * 1024);
    const full = records.filter((r) => r.data.length > 0.95 * 50 * 1024); // not the partly filled last one of each shard
    assert.ok(full.length >= records.length - 4);
    const perRecord = full.reduce((n, r) => n + r.events.length, 0) / full.length;
    assert.ok(perRecord >= 200, `${perRecord.toFixed(1)} events per record`);
  });

  it('sends an event alone raw, and everything raw without a shard map or with aggregation off', () => {
    const [single] = buildRecords(pending(1), fourShards, 50 * 1024);
    assert.equal(single.explicitHashKey, undefined);
    assert.equal(Buffer.from(single.data).toString().trim(), '{"i":0}');
    const unmapped = buildRecords(pending(10), undefined, 50 * 1024);
    assert.ok(unmapped.every((r) => r.events.length === 1 && r.shardId === undefined));
    const off = buildRecords(pending(10), fourShards, 0);
    assert.ok(
      off.every((r) => r.events.length === 1 && r.shardId !== undefined),
      'shards are still predicted for pacing',
    );
  });

  it('sends an event larger than the limit raw', () => {
    const big = { partitionKey: 'big', data: Buffer.alloc(60 * 1024, 0x61), receivedAt: 1 };
    const records = buildRecords([big, ...pending(3)], new ShardMap([{ id: 'shardId-0', startingHashKey: 0n, endingHashKey: MAX_HASH }]), 50 * 1024);
    assert.ok(records.some((r) => r.events.length === 1 && r.events[0] === big && r.explicitHashKey === undefined));
    assert.equal(
      records.reduce((n, r) => n + r.events.length, 0),
      4,
    );
  });

  it('carries the oldest receivedAt of its events', () => {
    const events = pending(10).reverse();
    const records = buildRecords(events, new ShardMap([{ id: 'shardId-0', startingHashKey: 0n, endingHashKey: MAX_HASH }]), 50 * 1024);
    assert.equal(records.length, 1);
    assert.equal(records[0].oldestReceivedAt, 1000);
  });
});

describe('buildRecords with keyless events (--partition-key random)', () => {
  const keyless = (n: number): PendingEvent[] => pending(n).map((e) => ({ ...e, partitionKey: '' }));

  it('deals them evenly over the shards, under keys that hash into each shard', () => {
    const records = buildRecords(keyless(4000), fourShards, 50 * 1024);
    const perShard = new Map<string, number>();
    for (const record of records) {
      perShard.set(record.shardId!, (perShard.get(record.shardId!) ?? 0) + record.events.length);
      const [start, end] = shardRange(record.shardId!);
      for (const user of referenceDeaggregate(record.data, record.partitionKey)) {
        const hash = hashKeyOf(user.partitionKey);
        assert.ok(hash >= start && hash <= end);
      }
    }
    assert.deepEqual([...perShard.values()], [1000, 1000, 1000, 1000]);
  });

  it('rotates the first shard, so that one-event batches spread too', () => {
    const shards = Array.from({ length: 8 }, () => buildRecords(keyless(1), fourShards, 50 * 1024)[0].shardId);
    assert.equal(new Set(shards).size, 4);
  });

  it('falls back to event ids as keys when no shard can take keyless events', () => {
    // Ranges no real stream has: no short key hashes into either.
    const tiny = new ShardMap([
      { id: 'a', startingHashKey: 0n, endingHashKey: 99n },
      { id: 'b', startingHashKey: 100n, endingHashKey: 199n },
    ]);
    const ids = ['0', '1', '2'].map((d) => `01a20146-37c1-7000-82f4-33c83d7f63b${d}`);
    const events = ids.map((id) => ({ partitionKey: '', data: Buffer.from(`{"id":"${id}","receivedAt":1}`), receivedAt: 1 }));
    const records = buildRecords(events, tiny, 50 * 1024);
    assert.deepEqual(records.flatMap((r) => referenceDeaggregate(r.data, r.partitionKey).map((u) => u.partitionKey)).sort(), ids);
  });
});

describe('ShardMap', () => {
  it('finds the shard whose range holds a hash key, at the edges too', () => {
    const map = new ShardMap([
      { id: 'b', startingHashKey: 100n, endingHashKey: MAX_HASH },
      { id: 'a', startingHashKey: 0n, endingHashKey: 99n },
    ]);
    assert.equal(map.shardFor(0n).id, 'a');
    assert.equal(map.shardFor(99n).id, 'a');
    assert.equal(map.shardFor(100n).id, 'b');
    assert.equal(map.shardFor(MAX_HASH).id, 'b');
  });

  it('hashes keys as Kinesis does: MD5 read as a big-endian 128-bit integer', () => {
    assert.equal(hashKeyOf('a'), 0x0cc175b9c0f1b6a831c399e269772661n);
  });
});
