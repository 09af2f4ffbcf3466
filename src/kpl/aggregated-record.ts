// The KPL aggregated-record format, byte for byte, so that KCL, Lambda and aws-kinesis-agg
// consumers de-aggregate our records transparently:
//
//   F3 89 9A C2 | protobuf AggregatedRecord | MD5 of the protobuf bytes (16 bytes)
//
//   message AggregatedRecord {
//     repeated string partition_key_table     = 1;
//     repeated string explicit_hash_key_table = 2;   (we never write it)
//     repeated Record records                 = 3;
//   }
//   message Record {
//     required uint64 partition_key_index     = 1;   written even when 0: consumers require it
//     optional uint64 explicit_hash_key_index = 2;
//     required bytes  data                    = 3;
//   }
//
// Encoded by hand into one exactly sized buffer: sizes are known before writing, so there is no
// intermediate object tree and no copy beyond the user records' bytes.

import { createHash } from 'node:crypto';
import { FormatError } from '../errors';

export const MAGIC = Buffer.from([0xf3, 0x89, 0x9a, 0xc2]);
export const DIGEST_BYTES = 16;
/** Magic plus MD5: what an aggregate costs besides its protobuf. */
export const AGGREGATE_OVERHEAD = MAGIC.length + DIGEST_BYTES;

const TAG_PARTITION_KEY = 0x0a; // field 1, length-delimited
const TAG_EXPLICIT_HASH_KEY = 0x12; // field 2, length-delimited
const TAG_RECORD = 0x1a; // field 3, length-delimited
const TAG_KEY_INDEX = 0x08; // field 1, varint
const TAG_HASH_KEY_INDEX = 0x10; // field 2, varint
const TAG_DATA = 0x1a; // field 3, length-delimited

export function varintBytes(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

function writeVarint(buffer: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    buffer[at++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  buffer[at++] = value;
  return at;
}

/** Bytes one key adds to the partition key table. */
export function keyEntryBytes(keyBytes: number): number {
  return 1 + varintBytes(keyBytes) + keyBytes;
}

function recordMessageBytes(keyIndex: number, dataBytes: number): number {
  return 1 + varintBytes(keyIndex) + 1 + varintBytes(dataBytes) + dataBytes;
}

/** Bytes one user record adds to the records list. */
export function recordEntryBytes(keyIndex: number, dataBytes: number): number {
  const message = recordMessageBytes(keyIndex, dataBytes);
  return 1 + varintBytes(message) + message;
}

export interface UserRecord {
  readonly partitionKey: string;
  readonly data: Uint8Array;
}

/** Encodes user records as one aggregated record. Keys are stored once each. */
export function encodeAggregate(records: readonly UserRecord[]): Buffer {
  const keyIndex = new Map<string, number>();
  const keys: Buffer[] = [];
  const indexes = new Array<number>(records.length);
  let size = AGGREGATE_OVERHEAD;
  for (let i = 0; i < records.length; i++) {
    const key = records[i].partitionKey;
    let index = keyIndex.get(key);
    if (index === undefined) {
      index = keys.length;
      keyIndex.set(key, index);
      const bytes = Buffer.from(key, 'utf8');
      keys.push(bytes);
      size += keyEntryBytes(bytes.length);
    }
    indexes[i] = index;
    size += recordEntryBytes(index, records[i].data.length);
  }
  const out = Buffer.allocUnsafe(size);
  MAGIC.copy(out, 0);
  let at = MAGIC.length;
  for (const key of keys) {
    out[at++] = TAG_PARTITION_KEY;
    at = writeVarint(out, at, key.length);
    at += key.copy(out, at);
  }
  for (let i = 0; i < records.length; i++) {
    const data = records[i].data;
    out[at++] = TAG_RECORD;
    at = writeVarint(out, at, recordMessageBytes(indexes[i], data.length));
    out[at++] = TAG_KEY_INDEX;
    at = writeVarint(out, at, indexes[i]);
    out[at++] = TAG_DATA;
    at = writeVarint(out, at, data.length);
    out.set(data, at);
    at += data.length;
  }
  createHash('md5').update(out.subarray(MAGIC.length, at)).digest().copy(out, at);
  return out;
}

/** The name this module's callers know the FormatError by. */
export { FormatError as AggregateFormatError };

export function isAggregate(data: Uint8Array): boolean {
  return data.length > AGGREGATE_OVERHEAD && data[0] === MAGIC[0] && data[1] === MAGIC[1] && data[2] === MAGIC[2] && data[3] === MAGIC[3];
}

function readVarint(data: Uint8Array, cursor: { at: number }, end: number): number {
  let value = 0;
  let scale = 1;
  for (;;) {
    if (cursor.at >= end || scale > 2 ** 49) throw new FormatError('bad_varint', 'bad varint');
    const b = data[cursor.at++];
    value += (b & 0x7f) * scale;
    if (b < 0x80) return value;
    scale *= 128;
  }
}

function skipField(data: Uint8Array, tag: number, cursor: { at: number }, end: number): void {
  const wireType = tag & 7;
  if (wireType === 0) readVarint(data, cursor, end);
  else if (wireType === 2) {
    // Not `cursor.at += readVarint(…)`: that adds the length to the position from before the varint.
    const length = readVarint(data, cursor, end);
    cursor.at += length;
  } else if (wireType === 1) cursor.at += 8;
  else if (wireType === 5) cursor.at += 4;
  else throw new FormatError('unsupported_wire_type', `unsupported wire type ${wireType}`);
}

/**
 * Decodes an aggregated record into its user records; a record that is not an aggregate (or whose
 * digest does not match, as the KCL treats it) comes back as itself.
 */
export function deaggregate(data: Uint8Array, outerPartitionKey: string): UserRecord[] {
  if (!isAggregate(data)) return [{ partitionKey: outerPartitionKey, data }];
  const end = data.length - DIGEST_BYTES;
  const digest = createHash('md5').update(data.subarray(MAGIC.length, end)).digest();
  if (!digest.equals(data.subarray(end))) return [{ partitionKey: outerPartitionKey, data }];
  const keys: string[] = [];
  const found: { keyIndex: number; payload: Uint8Array }[] = [];
  const cursor = { at: MAGIC.length };
  while (cursor.at < end) {
    const tag = readVarint(data, cursor, end);
    if (tag === TAG_PARTITION_KEY || tag === TAG_EXPLICIT_HASH_KEY) {
      const length = readVarint(data, cursor, end);
      if (tag === TAG_PARTITION_KEY) keys.push(Buffer.from(data.subarray(cursor.at, cursor.at + length)).toString('utf8'));
      cursor.at += length;
    } else if (tag === TAG_RECORD) {
      const length = readVarint(data, cursor, end);
      const recordEnd = cursor.at + length;
      let keyIndex = -1;
      let payload: Uint8Array | undefined;
      while (cursor.at < recordEnd) {
        const field = readVarint(data, cursor, recordEnd);
        if (field === TAG_KEY_INDEX) keyIndex = readVarint(data, cursor, recordEnd);
        else if (field === TAG_DATA) {
          const dataLength = readVarint(data, cursor, recordEnd);
          payload = data.subarray(cursor.at, cursor.at + dataLength);
          cursor.at += dataLength;
        } else if (field === TAG_HASH_KEY_INDEX) readVarint(data, cursor, recordEnd);
        else skipField(data, field, cursor, recordEnd);
      }
      if (keyIndex < 0 || payload === undefined) throw new FormatError('missing_field', 'a record lacks its required fields');
      found.push({ keyIndex, payload });
    } else {
      skipField(data, tag, cursor, end);
    }
  }
  // Fields may come in any order: resolve key indexes once the whole table is known.
  return found.map(({ keyIndex, payload }) => {
    if (keyIndex >= keys.length) throw new FormatError('key_index_out_of_range', `partition key index ${keyIndex} is outside a table of ${keys.length}`);
    return { partitionKey: keys[keyIndex], data: payload };
  });
}
