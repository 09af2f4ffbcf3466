// Worker side of the ring: reads the whole records of one published batch.

import { KEY_LENGTH_OFFSET, PUBLISHED_SLOT, RECORD_HEADER_BYTES, RECORD_LENGTH_OFFSET, type RingViews } from './ring-layout';

export interface RingRecord {
  readonly partitionKey: string;
  /** A view into shared memory: valid until the batch's task resolves. */
  readonly data: Uint8Array;
}

export function readBatch(ring: RingViews, start: number, end: number): RingRecord[] {
  Atomics.load(ring.header, PUBLISHED_SLOT); // pairs with the writer's Atomics.add before publishing
  const records: RingRecord[] = [];
  let at = start;
  while (at < end) {
    const length = ring.view.getUint32(at + RECORD_LENGTH_OFFSET, true);
    const keyBytes = ring.view.getUint16(at + KEY_LENGTH_OFFSET, true);
    if (length < RECORD_HEADER_BYTES + keyBytes || at + length > end) {
      throw new Error(`corrupt ring record at ${at}: length ${length}, key ${keyBytes}, batch [${start}, ${end})`);
    }
    const keyStart = at + RECORD_HEADER_BYTES;
    records.push({
      partitionKey: Buffer.from(ring.buffer, ring.bytes.byteOffset + keyStart, keyBytes).toString('latin1'),
      data: ring.bytes.subarray(keyStart + keyBytes, at + length),
    });
    at += length;
  }
  return records;
}
