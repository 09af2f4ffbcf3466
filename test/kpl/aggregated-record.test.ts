import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { AGGREGATE_OVERHEAD, AggregateFormatError, deaggregate, encodeAggregate, isAggregate, MAGIC } from '../../src/kpl/aggregated-record';
import { kinesisAgg, referenceDeaggregate } from '../support/kinesis-agg';

const events = (n: number, keys = n) =>
  Array.from({ length: n }, (_, i) => ({ partitionKey: `key-${i % keys}-ü`, data: Buffer.from(JSON.stringify({ i, text: 'é'.repeat(i % 7) })) }));

describe('KPL aggregated records', () => {
  it('are read back by aws-kinesis-agg with exactly the events and partition keys', () => {
    for (const [n, keys] of [
      [2, 2],
      [10, 3],
      [300, 300],
      [1000, 1],
    ]) {
      const input = events(n, keys);
      const encoded = encodeAggregate(input);
      const back = referenceDeaggregate(encoded, 'outer');
      assert.deepEqual(
        back.map((r) => r.partitionKey),
        input.map((r) => r.partitionKey),
      );
      assert.deepEqual(
        back.map((r) => r.data.toString()),
        input.map((r) => r.data.toString()),
      );
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
    const encoded = encodeAggregate([
      { partitionKey: 'k', data: Buffer.from('a') },
      { partitionKey: 'k', data: Buffer.from('b') },
    ]);
    // key table: 0a 01 'k'; each record: 1a 05 | 08 00 | 1a 01 <byte>
    const protobuf = [...encoded.subarray(MAGIC.length, encoded.length - 16)];
    assert.deepEqual(protobuf, [0x0a, 0x01, 0x6b, 0x1a, 0x05, 0x08, 0x00, 0x1a, 0x01, 0x61, 0x1a, 0x05, 0x08, 0x00, 0x1a, 0x01, 0x62]);
    assert.equal(encoded.length, AGGREGATE_OVERHEAD + protobuf.length);
  });

  it('are de-aggregated by our own decoder, also when aws-kinesis-agg wrote them', async () => {
    const input = events(20, 4);
    assert.deepEqual(
      deaggregate(encodeAggregate(input), 'outer').map((r) => [r.partitionKey, Buffer.from(r.data).toString()]),
      input.map((r) => [r.partitionKey, r.data.toString()]),
    );
    const theirs: Buffer[] = [];
    await new Promise<void>((resolve, reject) =>
      kinesisAgg.aggregate(
        input,
        (encoded, callback) => {
          theirs.push(encoded.data);
          callback();
        },
        resolve,
        reject,
      ),
    );
    const decoded = theirs.flatMap((data) => deaggregate(data, 'outer'));
    assert.deepEqual(
      decoded.map((r) => [r.partitionKey, Buffer.from(r.data).toString()]),
      input.map((r) => [r.partitionKey, r.data.toString()]),
    );
  });

  it('pass through a raw record, and a record whose digest does not match, as themselves', () => {
    assert.deepEqual(
      deaggregate(Buffer.from('{"a":1}'), 'pk').map((r) => Buffer.from(r.data).toString()),
      ['{"a":1}'],
    );
    const corrupt = encodeAggregate(events(3));
    corrupt[corrupt.length - 1] ^= 0xff;
    const back = deaggregate(corrupt, 'pk');
    assert.equal(back.length, 1);
    assert.equal(back[0].partitionKey, 'pk');
  });
});

/** An aggregate around protobuf bytes written by hand: the magic, the bytes, their MD5. */
function sealed(protobuf: number[]): Buffer {
  const body = Buffer.from(protobuf);
  return Buffer.concat([MAGIC, body, createHash('md5').update(body).digest()]);
}
const bytesOf = (text: string) => [...Buffer.from(text)];
/** Partition key table entry (field 1) and explicit hash key table entry (field 2). */
const keyEntry = (key: string) => [0x0a, key.length, ...bytesOf(key)];
const hashKeyEntry = (key: string) => [0x12, key.length, ...bytesOf(key)];
/** A Record (field 3) holding the given fields. */
const recordOf = (...fields: number[][]) => [0x1a, fields.flat().length, ...fields.flat()];
const keyIndex = (i: number) => [0x08, i];
const payload = (text: string) => [0x1a, text.length, ...bytesOf(text)];
const decoded = (data: Buffer) => deaggregate(data, 'outer').map((r) => [r.partitionKey, Buffer.from(r.data).toString()]);
const formatError = (message: string) => (err: unknown) => err instanceof AggregateFormatError && err.message === message;

describe('the KPL decoder on records other producers may write', () => {
  it('skips varint, 64-bit and 32-bit fields it does not know, around the table and inside a record', () => {
    const unknown = [
      0x20,
      0x96,
      0x01, // field 4, varint (150)
      0x29,
      1,
      2,
      3,
      4,
      5,
      6,
      7,
      8, // field 5, 64-bit
      0x3d,
      1,
      2,
      3,
      4, // field 7, 32-bit
    ];
    const data = sealed([...unknown, ...keyEntry('k'), ...recordOf(unknown, keyIndex(0), [0x10, 0x05], payload('a')), ...unknown]);
    assert.deepEqual(decoded(data), [['k', 'a']]);
  });

  it('skips length-delimited fields it does not know, around the table and inside a record', () => {
    const unknown = [0x22, 3, ...bytesOf('zzz')]; // field 4, 3 bytes
    const long = [0x2a, 0x80, 0x01, ...new Array(128).fill(0x5a)]; // field 5, 128 bytes (a two-byte length)
    const data = sealed([
      ...unknown,
      ...keyEntry('k'),
      ...long,
      ...recordOf(unknown, keyIndex(0), unknown, payload('a')),
      ...unknown,
      ...long,
      ...recordOf(keyIndex(0), payload('b')),
    ]);
    assert.deepEqual(decoded(data), [
      ['k', 'a'],
      ['k', 'b'],
    ]);
  });

  it('keeps the explicit hash key table apart from the partition keys', () => {
    const data = sealed([
      ...hashKeyEntry('123'),
      ...keyEntry('k0'),
      ...hashKeyEntry('456'),
      ...keyEntry('k1'),
      ...recordOf(keyIndex(1), payload('b')),
      ...recordOf(keyIndex(0), payload('a')),
    ]);
    assert.deepEqual(decoded(data), [
      ['k1', 'b'],
      ['k0', 'a'],
    ]);
  });

  it('reads varints of several bytes, up to eight', () => {
    const text = 'x'.repeat(128); // its length is the varint 80 01
    const long = [0x1a, 0x80, 0x01, ...bytesOf(text)];
    const eightByteZero = [0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
    const data = sealed([...keyEntry('k'), 0x1a, 0x83, 0x01, ...keyIndex(0), ...long, ...recordOf(eightByteZero, payload('y'))]);
    assert.deepEqual(decoded(data), [
      ['k', text],
      ['k', 'y'],
    ]);
  });

  it('refuses malformed protobuf with an AggregateFormatError', () => {
    const nineByteVarint = [0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
    assert.throws(() => deaggregate(sealed([...keyEntry('k'), ...recordOf(nineByteVarint, payload('a'))]), 'outer'), formatError('bad varint'));
    assert.throws(() => deaggregate(sealed([...keyEntry('k'), 0x1a, 0x80]), 'outer'), formatError('bad varint'), 'a varint cut off by the end');
    assert.throws(
      () => deaggregate(sealed([...keyEntry('k'), 0x1a, 2, 0x08, 0x80, ...recordOf(keyIndex(0), payload('a'))]), 'outer'),
      formatError('bad varint'),
      'a varint cut off by the end of its record',
    );
    assert.throws(
      () => deaggregate(sealed([...keyEntry('k'), ...recordOf([0x1b], keyIndex(0), payload('a'))]), 'outer'),
      formatError('unsupported wire type 3'),
    );
    assert.throws(
      () => deaggregate(sealed([...keyEntry('k'), ...recordOf(payload('a'))]), 'outer'),
      formatError('a record lacks its required fields'),
      'no key index',
    );
    assert.throws(
      () => deaggregate(sealed([...keyEntry('k'), ...recordOf(keyIndex(0))]), 'outer'),
      formatError('a record lacks its required fields'),
      'no data',
    );
    assert.throws(
      () => deaggregate(sealed([...keyEntry('k'), ...recordOf(keyIndex(1), payload('a'))]), 'outer'),
      formatError('partition key index 1 is outside a table of 1'),
    );
  });

  it('takes as an aggregate only the four magic bytes followed by more than the digest', () => {
    const valid = sealed([...keyEntry('k'), ...recordOf(keyIndex(0), payload('a'))]);
    assert.deepEqual(decoded(valid), [['k', 'a']]);
    for (let i = 0; i < MAGIC.length; i++) {
      const other = Buffer.from(valid);
      other[i] ^= 0x01;
      assert.deepEqual(
        deaggregate(other, 'outer').map((r) => [r.partitionKey, r.data]),
        [['outer', other]],
        `magic byte ${i} differs`,
      );
    }
    const empty = sealed([]);
    assert.equal(empty.length, AGGREGATE_OVERHEAD);
    assert.deepEqual(
      deaggregate(empty, 'outer').map((r) => [r.partitionKey, r.data]),
      [['outer', empty]],
      'the magic and a digest of nothing',
    );
  });
});
