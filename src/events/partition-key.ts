// Partition keys: the event's id (random: spreads load evenly over the shards), or the value of a
// field of the event (`field:user.id`: keeps one user's events in order on one shard). The field is
// found by walking the event's bytes, already validated, without parsing the event.

import { MAX_PARTITION_KEY_BYTES } from '../kinesis-limits';

const QUOTE = 0x22,
  BACKSLASH = 0x5c,
  LBRACE = 0x7b,
  RBRACE = 0x7d,
  LBRACKET = 0x5b,
  RBRACKET = 0x5d,
  COMMA = 0x2c;

export type PartitionKeyRule = { readonly kind: 'random' } | { readonly kind: 'field'; readonly path: readonly Buffer[] };

export function parsePartitionKeyRule(option: string): PartitionKeyRule {
  if (option === 'random') return { kind: 'random' };
  if (!option.startsWith('field:')) throw new Error(`bad --partition-key ${option}`);
  return {
    kind: 'field',
    path: option
      .slice('field:'.length)
      .split('.')
      .map((name) => Buffer.from(name)),
  };
}

function skipWhitespace(buf: Uint8Array, at: number): number {
  while (buf[at] === 0x20 || buf[at] === 0x0a || buf[at] === 0x0d || buf[at] === 0x09) at++;
  return at;
}

/** at is on the opening quote; returns the index after the closing quote. */
function skipString(buf: Uint8Array, at: number): number {
  at++;
  while (buf[at] !== QUOTE) at += buf[at] === BACKSLASH ? 2 : 1;
  return at + 1;
}

/** Skips one valid JSON value. */
function skipValue(buf: Uint8Array, at: number): number {
  const first = buf[at];
  if (first === QUOTE) return skipString(buf, at);
  if (first !== LBRACE && first !== LBRACKET) {
    while (at < buf.length && buf[at] !== COMMA && buf[at] !== RBRACE && buf[at] !== RBRACKET && buf[at] > 0x20) at++;
    return at;
  }
  let depth = 0;
  do {
    const b = buf[at];
    if (b === QUOTE) {
      at = skipString(buf, at);
      continue;
    }
    if (b === LBRACE || b === LBRACKET) depth++;
    else if (b === RBRACE || b === RBRACKET) depth--;
    at++;
  } while (depth > 0);
  return at;
}

function keyEquals(buf: Uint8Array, start: number, end: number, name: Buffer): boolean {
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (buf[start + i] !== name[i]) return false;
  return true;
}

/**
 * The key for an event from a field: a string (unescaped) or a number (as written), 1 to 256 bytes.
 * Undefined when the field is missing or of another kind; the caller then uses a random key.
 * Names are compared with the field names as written in the JSON (escaped names do not match).
 */
export function fieldPartitionKey(buf: Uint8Array, start: number, path: readonly Buffer[]): Buffer | undefined {
  let at = start;
  for (let level = 0; level < path.length; level++) {
    if (buf[at] !== LBRACE) return undefined;
    at = skipWhitespace(buf, at + 1);
    let found = false;
    while (buf[at] === QUOTE) {
      const nameEnd = skipString(buf, at);
      const matches = keyEquals(buf, at + 1, nameEnd - 1, path[level]);
      at = skipWhitespace(buf, nameEnd);
      at = skipWhitespace(buf, at + 1); // past ':'
      if (matches) {
        found = true;
        break;
      }
      at = skipWhitespace(buf, skipValue(buf, at));
      if (buf[at] === COMMA) at = skipWhitespace(buf, at + 1);
    }
    if (!found) return undefined;
  }
  const valueEnd = skipValue(buf, at);
  let key: Buffer;
  if (buf[at] === QUOTE) {
    const inner = buf.subarray(at + 1, valueEnd - 1);
    key = inner.includes(BACKSLASH) ? Buffer.from(JSON.parse(Buffer.from(buf.subarray(at, valueEnd)).toString()) as string) : Buffer.from(inner);
  } else if (buf[at] === 0x2d || (buf[at] >= 0x30 && buf[at] <= 0x39)) {
    key = Buffer.from(buf.subarray(at, valueEnd));
  } else {
    return undefined;
  }
  return key.length > 0 && key.length <= MAX_PARTITION_KEY_BYTES ? key : undefined;
}
