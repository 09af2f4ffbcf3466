// Reading spool segment files as the tests damage them.

import { readFileSync } from 'node:fs';
import { ENTRY_HEADER_BYTES } from '../../src/spool/spool-format';

/** Offsets of the entries of a segment file, walked by their lengths. */
export function entryOffsets(file: string): number[] {
  const bytes = readFileSync(file);
  const offsets: number[] = [];
  for (let at = 0; at < bytes.length; at += ENTRY_HEADER_BYTES + bytes.readUInt32LE(at + ENTRY_HEADER_BYTES)) offsets.push(at);
  return offsets;
}
