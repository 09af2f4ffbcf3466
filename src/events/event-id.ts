// Unique, time-ordered event ids: UUID version 7 (RFC 9562) with a 12-bit counter in rand_a, so ids
// made in the same millisecond still sort in creation order. Written as ASCII straight into the
// destination buffer: one id per event is on the hot path.

import { randomFillSync } from 'node:crypto';

export const EVENT_ID_LENGTH = 36;

const HEX = new Uint8Array(512);
for (let i = 0; i < 256; i++) {
  const text = i.toString(16).padStart(2, '0');
  HEX[i * 2] = text.charCodeAt(0);
  HEX[i * 2 + 1] = text.charCodeAt(1);
}

const randomPool = new Uint8Array(8 * 1024);
let randomOffset = randomPool.length;
let lastMs = 0;
let counter = 0;

function putByte(dest: Uint8Array, at: number, value: number): void {
  dest[at] = HEX[value * 2];
  dest[at + 1] = HEX[value * 2 + 1];
}

/** Writes a new id at dest[at..at+36). */
export function writeEventId(dest: Uint8Array, at: number, nowMs: number): void {
  if (nowMs > lastMs) {
    lastMs = nowMs;
    counter = 0;
  } else if (++counter > 0xfff) {
    lastMs++; // 4,096 ids in one millisecond: borrow the next one to stay ordered
    counter = 0;
  }
  if (randomOffset + 8 > randomPool.length) {
    randomFillSync(randomPool);
    randomOffset = 0;
  }
  const ms = lastMs;
  const high = Math.floor(ms / 0x100000000);
  const low = ms >>> 0;
  putByte(dest, at, (high >>> 8) & 0xff);
  putByte(dest, at + 2, high & 0xff);
  putByte(dest, at + 4, low >>> 24);
  putByte(dest, at + 6, (low >>> 16) & 0xff);
  dest[at + 8] = 0x2d;
  putByte(dest, at + 9, (low >>> 8) & 0xff);
  putByte(dest, at + 11, low & 0xff);
  dest[at + 13] = 0x2d;
  putByte(dest, at + 14, 0x70 | (counter >>> 8));
  putByte(dest, at + 16, counter & 0xff);
  dest[at + 18] = 0x2d;
  const r = randomPool;
  const o = randomOffset;
  putByte(dest, at + 19, 0x80 | (r[o] & 0x3f));
  putByte(dest, at + 21, r[o + 1]);
  dest[at + 23] = 0x2d;
  for (let i = 0; i < 6; i++) putByte(dest, at + 24 + i * 2, r[o + 2 + i]);
  randomOffset += 8;
}
