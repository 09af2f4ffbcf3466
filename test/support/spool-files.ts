// Reading and damaging spool segment files, as a crash or a bad disk would.

import { readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ENTRY_HEADER_BYTES } from '../../src/spool/spool-format';

export interface SpoolEntry {
  readonly file: string;
  /** Offset of the entry in its file. */
  readonly at: number;
}

/** Offsets of the entries of a segment file, walked by their lengths. */
function entryOffsets(file: string): number[] {
  const bytes = readFileSync(file);
  const offsets: number[] = [];
  for (let at = 0; at < bytes.length; at += ENTRY_HEADER_BYTES + bytes.readUInt32LE(at + ENTRY_HEADER_BYTES)) offsets.push(at);
  return offsets;
}

/** The segment files of a spool directory in order, and every entry in them. */
export function spoolEntries(dir: string): { files: string[]; entries: SpoolEntry[] } {
  const files = readdirSync(dir)
    .sort()
    .map((name) => path.join(dir, name));
  return { files, entries: files.flatMap((file) => entryOffsets(file).map((at) => ({ file, at }))) };
}

/** XORs one byte of an entry's record (`offset` bytes past its marker and checksum) with `mask`. */
export function flipRecordByte(entry: SpoolEntry, offset: number, mask: number): void {
  const bytes = readFileSync(entry.file);
  bytes[entry.at + ENTRY_HEADER_BYTES + offset] ^= mask;
  writeFileSync(entry.file, bytes);
}

/** XORs one byte of an entry counted from its marker (0-3 marker, 4-7 checksum, 8-11 record length, 12-13 key length). */
export function flipEntryByte(entry: SpoolEntry, offset: number, mask: number): void {
  flipRecordByte(entry, offset - ENTRY_HEADER_BYTES, mask);
}

/** Cuts the last `bytes` bytes off a file: a write torn by a crash. */
export function tearTail(file: string, bytes: number): void {
  truncateSync(file, readFileSync(file).length - bytes);
}
