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

// The outer scan (events, lines, the array of events) keeps its cursor in module state: the main
// thread scans one body at a time. The scan of one event runs over locals in one loop with its own
// stack of open containers: most of a body's bytes are inside an event, and there a module
// variable read for every byte, or a call per token, would cost more than the bytes themselves.
let buf: Uint8Array = new Uint8Array(0);
let pos = 0;
let end = 0;
let maxDepth = 0;
let spans = new EventSpans();
/** The closing byte of each open container, by depth (1 is the event); grown with the depth limit. */
let closers = new Uint8Array(64);

function fail(what: string): never {
  throw new ScanFailure('malformed_json', `${what} at byte ${pos}`);
}

function failAt(at: number, what: string): never {
  pos = at;
  fail(what);
}

/**
 * Between the tokens of an event, most bodies have no whitespace (no byte above the space is), so
 * the scan looks at the byte before calling this: a call per token costs more than the whitespace.
 */
function whitespaceEnd(bytes: Uint8Array, at: number, stop: number): number {
  while (at < stop) {
    const b = bytes[at];
    if (b !== SPACE && b !== LF && b !== CR && b !== TAB) return at;
    at++;
  }
  return at;
}

function skipWhitespace(): void {
  pos = whitespaceEnd(buf, pos, end);
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

/** Past the escape or UTF-8 sequence at `at` inside a string: the rare bytes. Refuses a control character. */
function unplainTextEnd(at: number): number {
  pos = at;
  const b = buf[pos];
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
  return pos;
}

/** The end of the string whose opening quote is at `at`; one table lookup per plain byte. */
function stringEnd(bytes: Uint8Array, at: number, stop: number): number {
  const endsPlainText = ENDS_PLAIN_TEXT; // a local: the module's would be read from its context per byte
  at++;
  while (at < stop) {
    const b = bytes[at];
    if (endsPlainText[b] === 0) at++;
    else if (b === QUOTE) return at + 1;
    else at = unplainTextEnd(at);
  }
  return failAt(at, 'unterminated string');
}

/** The end of the digits at `at`: at least one. */
function digitsEnd(bytes: Uint8Array, at: number, stop: number): number {
  const first = at;
  while (at < stop && bytes[at] >= ZERO && bytes[at] <= NINE) at++;
  if (at === first) failAt(at, 'bad number');
  return at;
}

/** The end of the number at `at`, which starts with a minus or a digit. */
function numberEnd(bytes: Uint8Array, at: number, stop: number): number {
  if (bytes[at] === MINUS) at++;
  at = bytes[at] === ZERO ? at + 1 : digitsEnd(bytes, at, stop);
  if (bytes[at] === DOT) at = digitsEnd(bytes, at + 1, stop);
  if (bytes[at] === 0x65 || bytes[at] === 0x45) {
    at++;
    if (bytes[at] === PLUS || bytes[at] === MINUS) at++;
    at = digitsEnd(bytes, at, stop);
  }
  return at;
}

function scanLiteral(word: string): void {
  if (pos + word.length > end) fail('unexpected end');
  for (let i = 0; i < word.length; i++) {
    if (buf[pos + i] !== word.charCodeAt(i)) fail('unexpected token');
  }
  pos += word.length;
}

/** The end of the literal at `at`, or the refusal of a value that starts with anything else. */
function literalEnd(at: number): number {
  pos = at;
  const b = buf[pos];
  if (b === 0x74) scanLiteral('true');
  else if (b === 0x66) scanLiteral('false');
  else if (b === 0x6e) scanLiteral('null');
  else {
    if (b >= 0x80) skipUtf8Sequence(); // bad UTF-8 is reported as such, even outside a string
    fail('unexpected character');
  }
  return pos;
}

/** From an object member's key at `at`, past its colon: where its value starts. */
function memberValueStart(bytes: Uint8Array, at: number, stop: number): number {
  if (bytes[at] !== QUOTE) failAt(at, 'expected a string key');
  at = stringEnd(bytes, at, stop);
  if (bytes[at] <= SPACE) at = whitespaceEnd(bytes, at, stop);
  if (bytes[at] !== COLON) failAt(at, "expected ':'");
  at++;
  if (bytes[at] <= SPACE) at = whitespaceEnd(bytes, at, stop);
  return at;
}

/**
 * The end of the JSON value at `start`, nested at most maxDepth containers deep. One loop: a value,
 * then the commas and closing bytes after it, up to the next value or the end of the outermost.
 */
function valueEnd(start: number): number {
  const bytes = buf;
  const stop = end;
  let at = start;
  let depth = 0;
  for (;;) {
    if (at >= stop) failAt(at, 'unexpected end');
    const b = bytes[at];
    if (b === QUOTE) at = stringEnd(bytes, at, stop);
    else if (b === MINUS || (b >= ZERO && b <= NINE)) at = numberEnd(bytes, at, stop);
    else if (b === LBRACE || b === LBRACKET) {
      if (++depth > maxDepth) throw new ScanFailure('too_deep', `nested deeper than ${maxDepth} levels at byte ${at}`);
      const close = b === LBRACE ? RBRACE : RBRACKET;
      closers[depth] = close;
      at++;
      if (bytes[at] <= SPACE) at = whitespaceEnd(bytes, at, stop);
      if (bytes[at] !== close) {
        if (close === RBRACE) at = memberValueStart(bytes, at, stop);
        continue;
      }
      at++;
      depth--;
    } else at = literalEnd(at);
    // A value ended: close the containers it ends, up to the next value.
    for (;;) {
      if (depth === 0) return at;
      if (bytes[at] <= SPACE) at = whitespaceEnd(bytes, at, stop);
      const close = closers[depth];
      if (bytes[at] === COMMA) {
        at++;
        if (bytes[at] <= SPACE) at = whitespaceEnd(bytes, at, stop);
        if (close === RBRACE) at = memberValueStart(bytes, at, stop);
        break;
      }
      if (bytes[at] !== close) failAt(at, close === RBRACE ? "expected ',' or '}'" : "expected ',' or ']'");
      at++;
      depth--;
    }
  }
}

function scanEvent(): void {
  const start = pos;
  pos = valueEnd(pos);
  if (buf[start] !== LBRACE) throw new RequestError('not_an_object', `event ${spans.count}: expected a JSON object`);
  spans.add(start, pos);
}

/** A top-level array of events: its elements are events, so it adds no depth. */
function scanArrayOfEvents(): void {
  pos++;
  skipWhitespace();
  if (buf[pos] === RBRACKET) {
    pos++;
    return;
  }
  for (;;) {
    scanEvent();
    skipWhitespace();
    if (buf[pos] === COMMA) {
      pos++;
      skipWhitespace();
    } else if (buf[pos] === RBRACKET) {
      pos++;
      return;
    } else fail("expected ',' or ']'");
  }
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
  if (closers.length <= depthLimit) closers = new Uint8Array(depthLimit + 1);
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
