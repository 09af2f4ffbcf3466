import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AGGREGATE_OVERHEAD, deaggregate, encodeAggregate, isAggregate, MAGIC } from '../../src/kpl/aggregated-record';
import { kinesisAgg, referenceDeaggregate } from '../support/kinesis-agg';

const events = (n: number, keys = n) =>
  Array.from({ length: n }, (_, i) => ({ partitionKey: `key-${i % keys}-ü`, data: Buffer.from(JSON.stringify({ i, text: 'é'.repeat(i % 7) })) }));

describe('KPL aggregated records', () => {
  it('are read back by aws-kinesis-agg with exactly the events and partition keys', () => {
    for (const [n, keys] of [[2, 2], [10, 3], [300, 300], [1000, 1]]) {
      const input = events(n, keys);
      const encoded = encodeAggregate(input);
      const back = referenceDeaggregate(encoded, 'outer');
      assert.deepEqual(back.map((r) => r.partitionKey), input.map((r) => r.partitionKey));
      assert.deepEqual(back.map((r) => r.data.toString()), input.map((r) => r.data.toString()));
    }
  });

  it('start with the magic, end with the MD5 of the protobuf, and store each key once', () => {
    const encoded = encodeAggregate(events(50, 2));
    assert.deepEqual([...encoded.subarray(0, 4)], [0xf3, 0x89, 0x9a, 0xc2]);
    assert.ok(isAggregate(encoded));
    const keyCopies = encoded.toString('latin1').split('key-0-').length - 1;
    assert.equal(keyCopies, 1);
  });

  it('write partition_key_index even when it is 0', () => {
    const encoded = encodeAggregate([{ partitionKey: 'k', data: Buffer.from('a') }, { partitionKey: 'k', data: Buffer.from('b') }]);
    // key table: 0a 01 'k'; each record: 1a 05 | 08 00 | 1a 01 <byte>
    const protobuf = [...encoded.subarray(MAGIC.length, encoded.length - 16)];
    assert.deepEqual(protobuf, [0x0a, 0x01, 0x6b, 0x1a, 0x05, 0x08, 0x00, 0x1a, 0x01, 0x61, 0x1a, 0x05, 0x08, 0x00, 0x1a, 0x01, 0x62]);
    assert.equal(encoded.length, AGGREGATE_OVERHEAD + protobuf.length);
  });

  it('are de-aggregated by our own decoder, also when aws-kinesis-agg wrote them', async () => {
    const input = events(20, 4);
    assert.deepEqual(deaggregate(encodeAggregate(input), 'outer').map((r) => [r.partitionKey, Buffer.from(r.data).toString()]), input.map((r) => [r.partitionKey, r.data.toString()]));
    const theirs: Buffer[] = [];
    await new Promise<void>((resolve, reject) =>
      kinesisAgg.aggregate(input, (encoded, callback) => { theirs.push(encoded.data); callback(); }, resolve, reject));
    const decoded = theirs.flatMap((data) => deaggregate(data, 'outer'));
    assert.deepEqual(decoded.map((r) => [r.partitionKey, Buffer.from(r.data).toString()]), input.map((r) => [r.partitionKey, r.data.toString()]));
  });

  it('pass through a raw record, and a record whose digest does not match, as themselves', () => {
    assert.deepEqual(deaggregate(Buffer.from('{"a":1}'), 'pk').map((r) => Buffer.from(r.data).toString()), ['{"a":1}']);
    const corrupt = encodeAggregate(events(3));
    corrupt[corrupt.length - 1] ^= 0xff;
    const back = deaggregate(corrupt, 'pk');
    assert.equal(back.length, 1);
    assert.equal(back[0].partitionKey, 'pk');
  });
});
