// Finds the events in a request body in one pass over its bytes, checking UTF-8, JSON syntax and
// nesting depth without building any object: the events are embedded in their envelopes as they
// came, so a parse would only be thrown away. `JSON.parse` alone is not a sufficient check anyway:
// it accepts 200,000 levels of nesting, and a non-fatal decode silently replaces bad UTF-8.

import { RequestError } from '../errors';

export type BodyFormat = 'json' | 'ndjson' | 'auto';

/**
 * Byte ranges of the events found in a body: the first `count` entries of `starts` and `ends`.
 * Reused across requests, and never shrunk: clearing only resets the count.
 */
export class EventSpans {
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  count = 0;
  clear(): void {
    this.count = 0;
  }
  add(start: number, end: number): void {
    this.starts[this.count] = start;
    this.ends[this.count] = end;
    this.count++;
  }
}

const QUOTE = 0x22,
  BACKSLASH = 0x5c,
  COMMA = 0x2c,
  COLON = 0x3a,
  LBRACE = 0x7b,
  RBRACE = 0x7d;
const LBRACKET = 0x5b,
  RBRACKET = 0x5d,
  MINUS = 0x2d,
  PLUS = 0x2b,
  DOT = 0x2e,
  ZERO = 0x30,
  NINE = 0x39;
const SPACE = 0x20,
  TAB = 0x09,
  CR = 0x0d,
  LF = 0x0a;

class ScanFailure {
  constructor(
    readonly code: 'malformed_json' | 'invalid_utf8' | 'too_deep',
    readonly what: string,
  ) {}
}

// The scanner's cursor lives in module state: the main thread scans one body at a time, and
// closures or objects per call would cost more than the scan of a small event.
let buf: Uint8Array = new Uint8Array(0);
let pos = 0;
let end = 0;
let maxDepth = 0;
let spans = new EventSpans();

function fail(what: string): never {
  throw new ScanFailure('malformed_json', `${what} at byte ${pos}`);
}

/**
 * Between the tokens of an event, most bodies have no whitespace (no byte above the space is), so
 * the hot callers look at the byte first: a call per token costs more than the whitespace.
 */
function skipWhitespace(): void {
  while (pos < end) {
    const b = buf[pos];
    if (b !== SPACE && b !== LF && b !== CR && b !== TAB) return;
    pos++;
  }
}

function isHex(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
}

function isContinuation(i: number): boolean {
  return i < end && (buf[i] & 0xc0) === 0x80;
}

/** Checks one multi-byte UTF-8 sequence at pos (RFC 3629: no overlongs, surrogates or > U+10FFFF). */
function skipUtf8Sequence(): void {
  const b = buf[pos];
  let length: number;
  let secondMin = 0x80,
    secondMax = 0xbf;
  if (b >= 0xc2 && b <= 0xdf) length = 2;
  else if (b >= 0xe0 && b <= 0xef) {
    length = 3;
    if (b === 0xe0) secondMin = 0xa0;
    else if (b === 0xed) secondMax = 0x9f;
  } else if (b >= 0xf0 && b <= 0xf4) {
    length = 4;
    if (b === 0xf0) secondMin = 0x90;
    else if (b === 0xf4) secondMax = 0x8f;
  } else throw new ScanFailure('invalid_utf8', `invalid UTF-8 byte 0x${b.toString(16)} at byte ${pos}`);
  const second = buf[pos + 1];
  let valid = pos + 1 < end && second >= secondMin && second <= secondMax;
  for (let i = 2; valid && i < length; i++) valid = isContinuation(pos + i);
  if (!valid) throw new ScanFailure('invalid_utf8', `invalid UTF-8 sequence at byte ${pos}`);
  pos += length;
}

/** 1 for the bytes that end a run of plain string text: quote, backslash, control and non-ASCII bytes. */
const ENDS_PLAIN_TEXT = new Uint8Array(256);
for (let b = 0; b < 256; b++) ENDS_PLAIN_TEXT[b] = b === QUOTE || b === BACKSLASH || b < SPACE || b >= 0x80 ? 1 : 0;

/**
 * The end of the run of plain ASCII string bytes at `at`: most of a body. A loop over locals (the
 * module's `pos` would be stored for every byte), with one table lookup per byte.
 */
function plainRunEnd(bytes: Uint8Array, at: number, stop: number): number {
  while (at < stop && ENDS_PLAIN_TEXT[bytes[at]] === 0) at++;
  return at;
}

function scanString(): void {
  pos++; // opening quote
  while (pos < end) {
    pos = plainRunEnd(buf, pos, end);
    if (pos >= end) break;
    const b = buf[pos];
    if (b === QUOTE) {
      pos++;
      return;
    }
    if (b === BACKSLASH) {
      const e = buf[pos + 1];
      if (e === 0x75) {
        // \uXXXX
        if (pos + 5 >= end || !isHex(buf[pos + 2]) || !isHex(buf[pos + 3]) || !isHex(buf[pos + 4]) || !isHex(buf[pos + 5])) fail('bad \\u escape');
        pos += 6;
      } else if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
        pos += 2;
      } else fail('bad escape');
    } else if (b < SPACE) {
      fail('control character in string');
    } else {
      skipUtf8Sequence();
    }
  }
  fail('unterminated string');
}

function scanDigits(): number {
  const start = pos;
  while (pos < end && buf[pos] >= ZERO && buf[pos] <= NINE) pos++;
  return pos - start;
}

function scanNumber(): void {
  if (buf[pos] === MINUS) pos++;
  if (buf[pos] === ZERO) pos++;
  else if (scanDigits() === 0) fail('bad number');
  if (buf[pos] === DOT) {
    pos++;
    if (scanDigits() === 0) fail('bad number');
  }
  if (buf[pos] === 0x65 || buf[pos] === 0x45) {
    pos++;
    if (buf[pos] === PLUS || buf[pos] === MINUS) pos++;
    if (scanDigits() === 0) fail('bad number');
  }
}

function scanLiteral(word: string): void {
  if (pos + word.length > end) fail('unexpected end');
  for (let i = 0; i < word.length; i++) {
    if (buf[pos + i] !== word.charCodeAt(i)) fail('unexpected token');
  }
  pos += word.length;
}

function scanValue(depth: number): void {
  if (pos >= end) fail('unexpected end');
  const b = buf[pos];
  if (b === LBRACE) scanObject(depth + 1);
  else if (b === LBRACKET) scanArray(depth + 1);
  else if (b === QUOTE) scanString();
  else if (b === MINUS || (b >= ZERO && b <= NINE)) scanNumber();
  else if (b === 0x74) scanLiteral('true');
  else if (b === 0x66) scanLiteral('false');
  else if (b === 0x6e) scanLiteral('null');
  else {
    if (b >= 0x80) skipUtf8Sequence(); // bad UTF-8 is reported as such, even outside a string
    fail('unexpected character');
  }
}

function checkDepth(depth: number): void {
  if (depth > maxDepth) throw new ScanFailure('too_deep', `nested deeper than ${maxDepth} levels at byte ${pos}`);
}

/** Scans `{…}` or `[…]` at pos: members, separated by commas, up to the closing byte. */
function scanContainer(depth: number, close: number, scanMember: (depth: number) => void): void {
  checkDepth(depth);
  pos++;
  if (buf[pos] <= SPACE) skipWhitespace();
  if (buf[pos] === close) {
    pos++;
    return;
  }
  for (;;) {
    scanMember(depth);
    if (buf[pos] <= SPACE) skipWhitespace();
    if (buf[pos] === COMMA) {
      pos++;
      if (buf[pos] <= SPACE) skipWhitespace();
    } else if (buf[pos] === close) {
      pos++;
      return;
    } else fail(close === RBRACE ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

function scanObjectMember(depth: number): void {
  if (buf[pos] !== QUOTE) fail('expected a string key');
  scanString();
  if (buf[pos] <= SPACE) skipWhitespace();
  if (buf[pos] !== COLON) fail("expected ':'");
  pos++;
  if (buf[pos] <= SPACE) skipWhitespace();
  scanValue(depth);
}

function scanObject(depth: number): void {
  scanContainer(depth, RBRACE, scanObjectMember);
}

function scanArray(depth: number): void {
  scanContainer(depth, RBRACKET, scanValue);
}

function scanEvent(): void {
  const start = pos;
  scanValue(0);
  if (buf[start] !== LBRACE) throw new RequestError('not_an_object', `event ${spans.count}: expected a JSON object`);
  spans.add(start, pos);
}

/** A top-level array of events: its elements are events, so it adds no depth. */
function scanArrayOfEvents(): void {
  scanContainer(0, RBRACKET, scanEvent);
}

function scanLines(): void {
  for (;;) {
    skipWhitespace();
    if (pos >= end) return;
    scanEvent();
    while (pos < end && (buf[pos] === SPACE || buf[pos] === TAB || buf[pos] === CR)) pos++;
    if (pos < end && buf[pos] !== LF) fail('expected a newline after the event');
  }
}

/**
 * Fills `spans` with the events of `body`: one object or an array of objects (`json`), objects one
 * per line (`ndjson`), or either (`auto`, for text/plain beacons that cannot set a type).
 * Throws a RequestError naming the index of the first bad event.
 */
export function scanEvents(body: Uint8Array, format: BodyFormat, depthLimit: number, found: EventSpans): void {
  found.clear();
  spans = found;
  buf = body;
  pos = 0;
  end = body.length;
  maxDepth = depthLimit;
  try {
    skipWhitespace();
    if (pos >= end) throw new RequestError('empty_body', 'the body has no events');
    if (format !== 'ndjson' && buf[pos] === LBRACKET) {
      scanArrayOfEvents();
      skipWhitespace();
      if (pos < end) fail('unexpected data after the array');
    } else if (format === 'json') {
      scanEvent();
      skipWhitespace();
      if (pos < end) fail('unexpected data after the event (send several as an array or as application/x-ndjson)');
    } else {
      scanLines();
    }
    if (spans.count === 0) throw new RequestError('empty_body', 'the body has no events');
  } catch (err) {
    if (err instanceof ScanFailure) throw new RequestError(err.code, `event ${spans.count}: ${err.what}`);
    throw err;
  } finally {
    buf = EMPTY; // do not keep the last body alive
  }
}

const EMPTY = new Uint8Array(0);
