// The bytes of a spool segment file: a sequence of entries, each one ring record behind a marker and
// a checksum, so that a torn tail or a damaged entry is detected and skipped, never replayed.
//
//  entry:
//  ┌ u32 LE MAGIC ┬ u32 LE CRC-32 of the record ┬ record, exactly as in the ring (ring-layout.ts):  ┐
//  │              │                            │ u32 record bytes, u16 key bytes, key, envelope    │
//  0              4                            8                                   8 + record bytes
//
// MAGIC starts with 0xF5, a byte that never occurs in UTF-8, so it cannot appear inside an
// envelope: after damage, the next entry is found by searching for it (and its checksum must hold).

import { crc32 } from 'node:zlib';
import { MAX_RECORD_BYTES } from '../kinesis-limits';
import { KEY_LENGTH_OFFSET, RECORD_HEADER_BYTES, RECORD_LENGTH_OFFSET } from '../ring/ring-layout';

export const MAGIC = 0x3147_4bf5; // bytes F5 4B 47 31
export const ENTRY_HEADER_BYTES = 8;
/** A spooled record holds at most one Kinesis record (data and key) and its header: anything larger is damage. */
export const MAX_SPOOLED_RECORD_BYTES = MAX_RECORD_BYTES + 64 * 1024;

/** Fills in the marker and checksum of an entry whose record is already written at `at + ENTRY_HEADER_BYTES`. */
export function sealEntry(bytes: Buffer, at: number): void {
  const record = at + ENTRY_HEADER_BYTES;
  const size = bytes.readUInt32LE(record + RECORD_LENGTH_OFFSET);
  bytes.writeUInt32LE(MAGIC, at);
  bytes.writeUInt32LE(crc32(bytes.subarray(record, record + size)), at + 4);
}

export type EntryCheck =
  | { readonly kind: 'entry'; readonly recordBytes: number; readonly keyBytes: number }
  /** More bytes are needed to judge: the entry runs past the end of what was read. */
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'damaged' };

/** Judges the entry starting at `at` among `bytes[0, end)`. */
export function checkEntry(bytes: Buffer, at: number, end: number): EntryCheck {
  if (end - at < ENTRY_HEADER_BYTES + RECORD_HEADER_BYTES) return { kind: 'incomplete' };
  if (bytes.readUInt32LE(at) !== MAGIC) return { kind: 'damaged' };
  const record = at + ENTRY_HEADER_BYTES;
  const recordBytes = bytes.readUInt32LE(record + RECORD_LENGTH_OFFSET);
  const keyBytes = bytes.readUInt16LE(record + KEY_LENGTH_OFFSET);
  if (recordBytes < RECORD_HEADER_BYTES + keyBytes || recordBytes > MAX_SPOOLED_RECORD_BYTES) return { kind: 'damaged' };
  if (record + recordBytes > end) return { kind: 'incomplete' };
  if (crc32(bytes.subarray(record, record + recordBytes)) !== bytes.readUInt32LE(at + 4)) return { kind: 'damaged' };
  return { kind: 'entry', recordBytes, keyBytes };
}

const MAGIC_FIRST_BYTE = MAGIC & 0xff;

/** The offset of the next possible entry after damage at `at`, or `end` when there is none in `bytes[0, end)`. */
export function nextMarker(bytes: Buffer, at: number, end: number): number {
  const found = bytes.indexOf(MAGIC_FIRST_BYTE, at + 1);
  return found === -1 || found >= end ? end : found;
}
