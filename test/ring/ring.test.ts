import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createRingBuffer,
  dataOffset,
  HEADER_BYTES,
  KEY_LENGTH_OFFSET,
  keyOffset,
  PUBLISHED_SLOT,
  RECORD_HEADER_BYTES,
  RECORD_LENGTH_OFFSET,
  recordBytes,
} from '../../src/ring/ring-layout';
import { readBatch } from '../../src/ring/ring-reader';
import { RingWriter, type BatchDescriptor } from '../../src/ring/ring-writer';
import { RingViews } from '../../src/ring/ring-layout';
import { until } from '../support/wait';

/** A deterministic PRNG so a failure can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function writeRecord(writer: RingWriter, key: string, data: string): boolean {
  const size = recordBytes(key.length, data.length);
  if (!writer.fits([size])) return false;
  const at = writer.reserve(size, key.length);
  writer.views.bytes.set(Buffer.from(key, 'latin1'), keyOffset(at));
  writer.views.bytes.set(Buffer.from(data, 'latin1'), dataOffset(at, key.length));
  return true;
}

describe('ring layout', () => {
  it('puts a record where the layout says, and the reader finds it there', () => {
    const buffer = createRingBuffer(256);
    assert.equal(buffer.byteLength, HEADER_BYTES + 256, 'the header slots come before the records');
    const published: BatchDescriptor[] = [];
    const writer = new RingWriter(buffer, { maxRecords: 10, maxBytes: 256, lingerMs: 60_000 }, (b) => published.push(b));
    assert.ok(writeRecord(writer, 'key', 'data!'));
    assert.equal(writer.used, recordBytes(3, 5), 'a record takes what recordBytes says');
    assert.equal(recordBytes(3, 5), RECORD_HEADER_BYTES + 3 + 5);
    // The record's header, as the reader in another thread sees the bytes.
    const bytes = Buffer.from(buffer, HEADER_BYTES);
    assert.equal(bytes.readUInt32LE(RECORD_LENGTH_OFFSET), recordBytes(3, 5));
    assert.equal(bytes.readUInt16LE(KEY_LENGTH_OFFSET), 3);
    assert.equal(bytes.toString('latin1', keyOffset(0), keyOffset(0) + 3), 'key');
    assert.equal(bytes.toString('latin1', dataOffset(0, 3), dataOffset(0, 3) + 5), 'data!');
    const fence = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    assert.equal(Atomics.load(fence, PUBLISHED_SLOT), 0);
    writer.closeBatch();
    assert.equal(Atomics.load(fence, PUBLISHED_SLOT), 1, 'publishing bumps the fence slot');
    const [record] = readBatch(new RingViews(buffer), published[0].start, published[0].end);
    assert.equal(record.partitionKey, 'key');
    assert.equal(Buffer.from(record.data).toString(), 'data!');
  });
});

describe('ring writer and reader', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`keeps thousands of random records whole, in order, once each, on a 256-byte ring (seed ${seed})`, () => {
      const random = prng(seed);
      const buffer = createRingBuffer(256);
      const views = new RingViews(buffer);
      const published: BatchDescriptor[] = [];
      const writer = new RingWriter(buffer, { maxRecords: 1 + Math.floor(random() * 5), maxBytes: 64 + Math.floor(random() * 128), lingerMs: 60_000 }, (b) =>
        published.push(b),
      );
      const written: string[] = [];
      const read: string[] = [];
      let refused = 0;
      let wraps = 0;
      let lastStart = -1;
      const inFlight: BatchDescriptor[] = [];
      const confirmSome = () => {
        inFlight.push(...published.splice(0));
        // Confirm in random order: space must still free only from the oldest batch.
        while (inFlight.length > 0 && random() < 0.6) {
          const i = Math.floor(random() * inFlight.length);
          const [batch] = inFlight.splice(i, 1);
          writer.release(batch);
        }
      };
      let next = 0;
      while (written.length < 5000) {
        const key = `k${next}`;
        const data = `${next}:${'x'.repeat(Math.floor(random() * 60))}`;
        if (writeRecord(writer, key, data)) {
          written.push(`${key}|${data}`);
          next++;
        } else {
          refused++;
          writer.closeBatch();
        }
        if (random() < 0.2) writer.closeBatch();
        for (const batch of published) {
          if (batch.start < lastStart) wraps++;
          lastStart = batch.start;
          const records = readBatch(views, batch.start, batch.end);
          assert.equal(records.length, batch.count);
          for (const r of records) read.push(`${r.partitionKey}|${Buffer.from(r.data).toString('latin1')}`);
        }
        confirmSome();
        assert.ok(writer.used >= 0 && writer.used <= writer.capacity, `used ${writer.used} within capacity`);
      }
      writer.closeBatch();
      for (const batch of published) {
        for (const r of readBatch(views, batch.start, batch.end)) read.push(`${r.partitionKey}|${Buffer.from(r.data).toString('latin1')}`);
      }
      assert.deepEqual(read, written);
      assert.ok(wraps > 100, `the ring wrapped ${wraps} times`);
      assert.ok(refused > 0, 'a full ring refused records');
      inFlight.push(...published.splice(0));
      for (const batch of inFlight) writer.release(batch);
      assert.equal(writer.used, 0, 'all space comes back once everything is confirmed');
    });
  }

  it('refuses a record when full and frees space only when the oldest batch is confirmed', () => {
    const buffer = createRingBuffer(256);
    const published: BatchDescriptor[] = [];
    const writer = new RingWriter(buffer, { maxRecords: 1, maxBytes: 256, lingerMs: 60_000 }, (b) => published.push(b));
    const size = recordBytes(2, 58); // 66 bytes: three fit in 256, a fourth does not
    for (let i = 0; i < 3; i++) assert.ok(writeRecord(writer, `k${i}`, 'd'.repeat(58)));
    assert.equal(writer.fits([size]), false);
    writer.closeBatch();
    assert.equal(published.length, 3);
    writer.release(published[1]);
    assert.equal(writer.fits([size]), false, 'confirming a younger batch frees nothing');
    writer.release(published[0]);
    assert.equal(writer.fits([size]), true, 'confirming the oldest frees its space and the younger confirmed one');
    assert.equal(writer.used, size);
  });

  it('checks a whole request at once, counting the padding a wrap needs', () => {
    const buffer = createRingBuffer(256);
    const published: BatchDescriptor[] = [];
    const writer = new RingWriter(buffer, { maxRecords: 10, maxBytes: 256, lingerMs: 60_000 }, (b) => published.push(b));
    assert.ok(writeRecord(writer, 'a', 'x'.repeat(93))); // 100 bytes
    writer.closeBatch();
    assert.ok(writeRecord(writer, 'b', 'x'.repeat(93))); // 200 bytes
    writer.closeBatch();
    writer.release(published[0]); // [0,100) free, [100,200) used, head at 200
    assert.equal(writer.fits([50]), true, 'fits before the end');
    assert.equal(writer.fits([50, 100]), true, 'the second wraps, padding 6 bytes, and ends exactly where the used region starts');
    assert.equal(writer.fits([50, 101]), false, 'one byte more would overlap the unconfirmed record');
    assert.equal(writer.fits([100]), true, 'wraps to offset 0, where 100 bytes are free');
  });

  it('publishes an open batch when its linger time passes', async () => {
    const buffer = createRingBuffer(1024);
    const published: BatchDescriptor[] = [];
    const writer = new RingWriter(buffer, { maxRecords: 500, maxBytes: 1024, lingerMs: 20 }, (b) => published.push(b));
    writeRecord(writer, 'k', 'data');
    assert.equal(published.length, 0);
    await until('the linger timer publishes the batch', () => published.length > 0, 5000, 5);
    assert.equal(published.length, 1);
    assert.equal(published[0].count, 1);
    assert.equal(Atomics.load(new Int32Array(buffer, 0, 16), PUBLISHED_SLOT), 1, 'the publish fence was bumped');
  });

  it('closes a batch at its record and byte limits', () => {
    const buffer = createRingBuffer(4096);
    const published: BatchDescriptor[] = [];
    const writer = new RingWriter(buffer, { maxRecords: 3, maxBytes: 100, lingerMs: 60_000 }, (b) => published.push(b));
    for (let i = 0; i < 7; i++) writeRecord(writer, 'k', 'x'.repeat(13)); // 20 bytes each
    assert.deepEqual(
      published.map((b) => b.count),
      [3, 3],
    );
    for (let i = 0; i < 5; i++) writeRecord(writer, 'k', 'x'.repeat(43)); // 50 bytes each
    assert.ok(
      published.slice(2).every((b) => b.end - b.start <= 100),
      'no batch spans more than maxBytes',
    );
  });

  it('reports a corrupt record instead of reading past its batch', () => {
    const buffer = createRingBuffer(256);
    const views = new RingViews(buffer);
    views.view.setUint32(0, 500, true);
    assert.throws(() => readBatch(views, 0, 100), /corrupt ring record at 0/);
  });
});

describe('ring writer: accounting at the edges', () => {
  /** A writer on a 256-byte ring that records what it publishes. */
  function ring(maxBytes = 256): { writer: RingWriter; published: BatchDescriptor[] } {
    const published: BatchDescriptor[] = [];
    return { writer: new RingWriter(createRingBuffer(256), { maxRecords: 10, maxBytes, lingerMs: 60_000 }, (b) => published.push(b)), published };
  }
  /** A record of exactly `size` bytes with a one-byte key. */
  const record = (writer: RingWriter, size: number) => assert.ok(writeRecord(writer, 'k', 'x'.repeat(size - recordBytes(1, 0))));

  it('is empty until a record is written, and again once its batch is confirmed', () => {
    const { writer, published } = ring();
    assert.equal(writer.isEmpty, true);
    record(writer, 50);
    assert.equal(writer.isEmpty, false);
    writer.closeBatch();
    writer.release(published[0]);
    assert.equal(writer.isEmpty, true);
  });

  it('publishes nothing when no batch is open', () => {
    const { writer, published } = ring();
    writer.closeBatch();
    record(writer, 50);
    writer.closeBatch();
    writer.closeBatch();
    assert.deepEqual(
      published.map((b) => b.count),
      [1],
    );
  });

  it('fills a batch to exactly its byte limit, and starts the next one past it', () => {
    const { writer, published } = ring(100);
    record(writer, 50);
    record(writer, 50);
    record(writer, 50);
    writer.closeBatch();
    assert.deepEqual(
      published.map((b) => b.count),
      [2, 1],
    );
  });

  it('charges the skipped tail to the batch before a wrap, and frees it with that batch', () => {
    const { writer, published } = ring();
    record(writer, 100);
    writer.closeBatch();
    record(writer, 100);
    writer.closeBatch();
    writer.release(published[0]);
    record(writer, 100); // does not fit in the 56 bytes left at the end: wraps to offset 0
    assert.equal(writer.used, 256, 'the second record, the 56 skipped bytes and the third');
    assert.equal(writer.fits([1]), false);
    writer.closeBatch();
    writer.release(published[1]);
    assert.equal(writer.used, 100);
    writer.release(published[2]);
    assert.equal(writer.used, 0);
  });

  it('says a record fits that ends exactly at the end, or that an empty ring can take from offset 0', () => {
    const { writer, published } = ring();
    record(writer, 100);
    record(writer, 100);
    assert.equal(writer.fits([56]), true, 'the last 56 bytes, no wrap');
    record(writer, 56);
    assert.equal(writer.used, 256);
    writer.closeBatch();
    writer.release(published[0]);
    record(writer, 200);
    writer.closeBatch();
    writer.release(published[1]);
    assert.equal(writer.isEmpty, true);
    assert.equal(writer.fits([250]), true, 'empty: the next record starts at 0, not after the last one');
    record(writer, 250);
  });

  it('refuses to reserve past the capacity when the caller did not check', () => {
    const { writer } = ring();
    record(writer, 200);
    assert.throws(() => writer.reserve(100, 1), /ring overflow: 100 bytes do not fit/);
  });
});
