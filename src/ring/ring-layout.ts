// Every offset and slot of the shared ring, in one place.
//
//  SharedArrayBuffer
//  ┌─ header: HEADER_BYTES ───────────────────────┐┌─ data region: capacity bytes ────────────────────┐
//  │ Int32[PUBLISHED_SLOT] batches published       ││ rec │ rec │ rec │ … free … │ rec │ rec │ (pad)   │
//  │ (rest reserved, keeps the data 64-byte aligned)│└──────────────────────────────────────────────────┘
//  └───────────────────────────────────────────────┘        ▲ tail (oldest unconfirmed)  ▲ head (next write)
//
//  record (never split at the wrap; a record that does not fit before the end starts again at 0,
//  and the bytes it skips are released with the batch before it):
//  ┌ u32 LE: record bytes ┬ u16 LE: key bytes ┬ partition key (ASCII) ┬ data (one event envelope) ┐
//  0                      4                   6                 6 + key bytes                record bytes
//
// Only the main thread moves head and tail. A shipper worker is handed an immutable [start, end)
// region of whole records (a batch descriptor) and reads nothing else; the main thread does not
// reuse the region until the worker's task has resolved. So no multi-word state is shared between
// threads and nothing can be read torn. The PUBLISHED counter is bumped with Atomics before a batch
// is handed over, and loaded with Atomics by the worker before reading, which orders the plain
// writes of the records before the worker's reads.

export const HEADER_BYTES = 64;
export const PUBLISHED_SLOT = 0;

export const RECORD_LENGTH_OFFSET = 0;
export const KEY_LENGTH_OFFSET = 4;
export const RECORD_HEADER_BYTES = 6;

export function recordBytes(keyBytes: number, dataBytes: number): number {
  return RECORD_HEADER_BYTES + keyBytes + dataBytes;
}

export function keyOffset(record: number): number {
  return record + RECORD_HEADER_BYTES;
}

export function dataOffset(record: number, keyBytes: number): number {
  return record + RECORD_HEADER_BYTES + keyBytes;
}

export function createRingBuffer(capacity: number): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + capacity);
}

/** Views over one ring's shared memory, the same on every thread. */
export class RingViews {
  readonly header: Int32Array;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  constructor(readonly buffer: SharedArrayBuffer) {
    this.header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.bytes = new Uint8Array(buffer, HEADER_BYTES);
    this.view = new DataView(buffer, HEADER_BYTES);
  }
  get capacity(): number {
    return this.bytes.length;
  }
}
