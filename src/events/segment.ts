// Segment HTTP spec calls (track, page, identify, screen, group, alias, batch) turned into the events
// the envelope writer takes. The body is checked by the same scanner as /v1/events; then its members
// are found by walking the checked bytes (no parse) and each event is copied with what the spec adds:
// a `messageId` when it has none, `type` from the route, the batch's `context`, `integrations` and
// `sentAt`. The write key is taken out of every event: it is a credential, not data.

import { RequestError } from '../errors';
import { EVENT_ID_LENGTH, writeEventId } from './event-id';
import { EventSpans, scanEvents } from './json-scan';

export const SEGMENT_TYPES = ['track', 'page', 'identify', 'screen', 'group', 'alias'] as const;
export type SegmentType = (typeof SEGMENT_TYPES)[number];
/** Segment's own limits (HTTP tracking API): larger calls are refused with 400. */
export const SEGMENT_MAX_EVENT_BYTES = 32 * 1024;
export const SEGMENT_MAX_BATCH_BYTES = 500 * 1024;

const QUOTE = 0x22,
  BACKSLASH = 0x5c,
  COMMA = 0x2c,
  LBRACE = 0x7b,
  RBRACE = 0x7d,
  LBRACKET = 0x5b,
  RBRACKET = 0x5d;

/** Byte ranges of one JSON object's members: key (with its quotes) and value. Reused per request. */
class Members {
  count = 0;
  keyStarts = new Int32Array(64);
  keyEnds = new Int32Array(64);
  valueStarts = new Int32Array(64);
  valueEnds = new Int32Array(64);

  add(keyStart: number, keyEnd: number, valueStart: number, valueEnd: number): void {
    if (this.count === this.keyStarts.length) {
      const grow = (a: Int32Array) => {
        const grown = new Int32Array(a.length * 2);
        grown.set(a);
        return grown;
      };
      this.keyStarts = grow(this.keyStarts);
      this.keyEnds = grow(this.keyEnds);
      this.valueStarts = grow(this.valueStarts);
      this.valueEnds = grow(this.valueEnds);
    }
    const i = this.count++;
    this.keyStarts[i] = keyStart;
    this.keyEnds[i] = keyEnd;
    this.valueStarts[i] = valueStart;
    this.valueEnds[i] = valueEnd;
  }
}

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

function skipSpace(buf: Uint8Array, at: number): number {
  while (isSpace(buf[at])) at++;
  return at;
}

/** The offset after the string whose opening quote is at `at`: the first quote not escaped (found natively). */
function stringEnd(buf: Uint8Array, at: number): number {
  for (;;) {
    at = buf.indexOf(QUOTE, at + 1);
    let backslashes = 0;
    while (buf[at - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at + 1;
  }
}

/** The offset after the value at `at`; the bytes were checked by the scanner, so only its shape is followed. */
function valueEnd(buf: Uint8Array, at: number): number {
  const first = buf[at];
  if (first === QUOTE) return stringEnd(buf, at);
  if (first !== LBRACE && first !== LBRACKET) {
    while (at < buf.length && buf[at] !== COMMA && buf[at] !== RBRACE && buf[at] !== RBRACKET && !isSpace(buf[at])) at++;
    return at;
  }
  let depth = 0;
  for (;;) {
    const b = buf[at];
    if (b === QUOTE) {
      at = stringEnd(buf, at);
      continue;
    }
    if (b === LBRACE || b === LBRACKET) depth++;
    else if ((b === RBRACE || b === RBRACKET) && --depth === 0) return at + 1;
    at++;
  }
}

/** Fills `into` with the members of the (checked) object at `at`; returns the offset after it. */
function readMembers(buf: Uint8Array, at: number, into: Members): number {
  into.count = 0;
  at = skipSpace(buf, at + 1);
  while (buf[at] === QUOTE) {
    const keyEnd = stringEnd(buf, at);
    const valueStart = skipSpace(buf, skipSpace(buf, keyEnd) + 1); // past the colon
    const end = valueEnd(buf, valueStart);
    into.add(at, keyEnd, valueStart, end);
    at = skipSpace(buf, end);
    if (buf[at] === COMMA) at = skipSpace(buf, at + 1);
  }
  return at + 1; // the closing brace
}

/** A key's text: its bytes between the quotes, decoded only when it has an escape. */
function keyText(buf: Uint8Array, start: number, end: number): string {
  for (let i = start + 1; i < end - 1; i++) if (buf[i] === BACKSLASH) return JSON.parse(Buffer.from(buf.subarray(start, end)).toString('utf8'));
  return Buffer.from(buf.buffer, buf.byteOffset + start + 1, end - start - 2).toString('latin1');
}

/** Whether the key at start..end (with its quotes) is `name`; compared as bytes unless it has an escape. */
function keyIs(buf: Uint8Array, start: number, end: number, name: string): boolean {
  const length = end - start - 2;
  if (length < name.length) return false; // an escape only makes a key longer
  let plain = length === name.length;
  for (let i = 0; plain && i < length; i++) {
    const b = buf[start + 1 + i];
    if (b === BACKSLASH) plain = false;
    else if (b !== name.charCodeAt(i)) return false;
  }
  if (plain) return true;
  return buf.subarray(start, end).includes(BACKSLASH) && keyText(buf, start, end) === name;
}

function indexOfKey(buf: Uint8Array, members: Members, name: string): number {
  for (let i = 0; i < members.count; i++) if (keyIs(buf, members.keyStarts[i], members.keyEnds[i], name)) return i;
  return -1;
}

// The keys the spec gives a meaning, one bit each, so that an event's keys are each looked at once.
const OTHER = 0,
  WRITE_KEY = 1,
  MESSAGE_ID = 2,
  TYPE = 4,
  SENT_AT = 8,
  CONTEXT = 16,
  INTEGRATIONS = 32;
const MEANINGFUL: readonly (readonly [string, number])[] = [
  ['writeKey', WRITE_KEY],
  ['messageId', MESSAGE_ID],
  ['type', TYPE],
  ['sentAt', SENT_AT],
  ['context', CONTEXT],
  ['integrations', INTEGRATIONS],
];

/** Which meaningful key the key at start..end is: picked by its first letter, then compared. */
function keyOf(buf: Uint8Array, start: number, end: number): number {
  let index: number;
  switch (buf[start + 1]) {
    case 0x77:
      index = 0;
      break; // w
    case 0x6d:
      index = 1;
      break; // m
    case 0x74:
      index = 2;
      break; // t
    case 0x73:
      index = 3;
      break; // s
    case 0x63:
      index = 4;
      break; // c
    case 0x69:
      index = 5;
      break; // i
    case BACKSLASH:
      for (const [name, bit] of MEANINGFUL) if (keyIs(buf, start, end, name)) return bit;
      return OTHER;
    default:
      return OTHER;
  }
  const [name, bit] = MEANINGFUL[index];
  return keyIs(buf, start, end, name) ? bit : OTHER;
}

const TYPE_MEMBERS = Object.fromEntries(SEGMENT_TYPES.map((type) => [type, Buffer.from(`"type":"${type}"`)])) as Record<SegmentType, Buffer>;
const MESSAGE_ID_MEMBER = Buffer.from('"messageId":"');
const CONTEXT_MEMBER = Buffer.from('"context":');
const INTEGRATIONS_MEMBER = Buffer.from('"integrations":');
const SENT_AT_MEMBER = Buffer.from('"sentAt":');

/** Batch-level values copied into each event of a batch: byte ranges of the request body, or -1. */
interface BatchShared {
  contextAt: number;
  integrationsAt: number;
  sentAtStart: number;
  sentAtEnd: number;
}

/**
 * Reads Segment calls into events: one call (`type` the route's) or a batch. The events are written
 * into a buffer of this reader's, valid until the next read, with their spans in `spans`.
 */
export class SegmentReader {
  readonly spans = new EventSpans();
  /** The `writeKey` the body carried ('' when none). */
  writeKey = '';
  private out = Buffer.allocUnsafe(64 * 1024);
  private length = 0;
  /** Where the event being written goes on, and where its first member starts. */
  private at = 0;
  private first = 0;
  private readonly call = new Members();
  private readonly event = new Members();
  private readonly shared = new Members();
  private readonly own = new Members();

  /** The events written by the last read. */
  get body(): Uint8Array {
    return this.out.subarray(0, this.length);
  }

  /** Reads one call's body (`type` given) or a batch's (`type` 'batch'); throws a RequestError naming the first bad event. */
  read(body: Uint8Array, type: SegmentType | 'batch', maxDepth: number): void {
    const limit = type === 'batch' ? SEGMENT_MAX_BATCH_BYTES : SEGMENT_MAX_EVENT_BYTES;
    if (body.length > limit) {
      const what = type === 'batch' ? 'batch' : 'call';
      throw new RequestError('segment_too_large', `the body has ${body.length} bytes, more than Segment's limit of ${limit} for a ${what}`);
    }
    // A batch's events sit two levels down (the call object, its batch array): the depth limit is per event.
    const scanned = this.spans;
    scanEvents(body, 'json', type === 'batch' ? maxDepth + 2 : maxDepth, scanned);
    const at = skipSpace(body, 0);
    if (body[at] !== LBRACE) throw new RequestError('not_an_object', 'the body must be one JSON object');
    readMembers(body, at, this.call);
    this.writeKey = this.stringMember(body, this.call, 'writeKey');
    this.length = 0;
    scanned.clear();
    if (type !== 'batch') {
      this.copyEvent(body, this.call, type, undefined);
      return;
    }
    const batchAt = indexOfKey(body, this.call, 'batch');
    if (batchAt < 0 || body[this.call.valueStarts[batchAt]] !== LBRACKET) throw new RequestError('segment_invalid', 'a batch needs a "batch" array of calls');
    const shared = this.sharedOf(body);
    let element = skipSpace(body, this.call.valueStarts[batchAt] + 1);
    while (body[element] !== RBRACKET) {
      const index = scanned.count;
      if (body[element] !== LBRACE) throw new RequestError('not_an_object', `event ${index}: expected a JSON object`);
      const end = readMembers(body, element, this.event);
      if (end - element > SEGMENT_MAX_EVENT_BYTES) {
        const limit = SEGMENT_MAX_EVENT_BYTES;
        throw new RequestError('segment_too_large', `event ${index}: ${end - element} bytes, more than Segment's limit of ${limit} for a call`);
      }
      if (indexOfKey(body, this.event, 'type') < 0) throw new RequestError('segment_invalid', `event ${index}: a call in a batch needs a "type"`);
      this.copyEvent(body, this.event, undefined, shared);
      element = skipSpace(body, end);
      if (body[element] === COMMA) element = skipSpace(body, element + 1);
    }
    if (scanned.count === 0) throw new RequestError('empty_body', 'the batch has no calls');
  }

  private sharedOf(body: Uint8Array): BatchShared {
    const call = this.call;
    const object = (name: string) => {
      const i = indexOfKey(body, call, name);
      return i >= 0 && body[call.valueStarts[i]] === LBRACE ? call.valueStarts[i] : -1;
    };
    const sentAt = indexOfKey(body, call, 'sentAt');
    return {
      contextAt: object('context'),
      integrationsAt: object('integrations'),
      sentAtStart: sentAt >= 0 ? call.valueStarts[sentAt] : -1,
      sentAtEnd: sentAt >= 0 ? call.valueEnds[sentAt] : -1,
    };
  }

  /** A member's string value, '' when absent or not a string. */
  private stringMember(body: Uint8Array, members: Members, name: string): string {
    const i = indexOfKey(body, members, name);
    if (i < 0 || body[members.valueStarts[i]] !== QUOTE) return '';
    return JSON.parse(Buffer.from(body.subarray(members.valueStarts[i], members.valueEnds[i])).toString('utf8'));
  }

  /**
   * Copies one event: its members but the write key, merged batch objects, and what it lacks. The
   * members kept as sent are copied in runs, separators and all: most events are one or two runs.
   */
  private copyEvent(body: Uint8Array, members: Members, type: SegmentType | undefined, shared: BatchShared | undefined): void {
    const start = this.length;
    const count = members.count;
    const objectBytes = count === 0 ? 0 : members.valueEnds[count - 1] - members.keyStarts[0];
    this.ensure(start + objectBytes + (shared ? this.sharedBytes(body, shared) : 0) + 128);
    const out = this.out;
    out[start] = LBRACE;
    this.at = start + 1;
    this.first = this.at;
    let seen = 0;
    let runStart = -1;
    for (let i = 0; i < count; i++) {
      const keyStart = members.keyStarts[i],
        keyEnd = members.keyEnds[i];
      const key = keyOf(body, keyStart, keyEnd);
      seen |= key;
      const sharedObject = key === CONTEXT ? shared?.contextAt : key === INTEGRATIONS ? shared?.integrationsAt : undefined;
      const sharedAt = sharedObject === undefined || body[members.valueStarts[i]] !== LBRACE ? -1 : sharedObject;
      if (key !== WRITE_KEY && sharedAt < 0) {
        if (runStart < 0) runStart = keyStart;
        continue;
      }
      if (runStart >= 0) this.copy(body, runStart, members.valueEnds[i - 1]);
      runStart = -1;
      if (key === WRITE_KEY) continue;
      this.copy(body, keyStart, keyEnd);
      out[this.at++] = 0x3a; // :
      this.at = this.writeMerged(body, sharedAt, members.valueStarts[i], this.at);
    }
    if (runStart >= 0) this.copy(body, runStart, members.valueEnds[count - 1]);
    if (!(seen & TYPE) && type) this.member(TYPE_MEMBERS[type]);
    if (!(seen & MESSAGE_ID)) {
      this.member(MESSAGE_ID_MEMBER);
      writeEventId(out, this.at, Date.now());
      this.at += EVENT_ID_LENGTH;
      out[this.at++] = QUOTE;
    }
    if (shared) {
      if (!(seen & CONTEXT) && shared.contextAt >= 0) this.member(CONTEXT_MEMBER, body, shared.contextAt, valueEnd(body, shared.contextAt));
      const { integrationsAt } = shared;
      if (!(seen & INTEGRATIONS) && integrationsAt >= 0) this.member(INTEGRATIONS_MEMBER, body, integrationsAt, valueEnd(body, integrationsAt));
      if (!(seen & SENT_AT) && shared.sentAtStart >= 0) this.member(SENT_AT_MEMBER, body, shared.sentAtStart, shared.sentAtEnd);
    }
    out[this.at++] = RBRACE;
    this.spans.add(start, this.at);
    this.length = this.at;
  }

  /** Copies body[from, to) into the event being written, after a comma unless it is the first member. */
  private copy(body: Uint8Array, from: number, to: number): void {
    if (this.at > this.first) this.out[this.at++] = COMMA;
    this.out.set(body.subarray(from, to), this.at);
    this.at += to - from;
  }

  /** Writes a member's `"name":` bytes and, when given, its value copied from the body. */
  private member(name: Buffer, body?: Uint8Array, from = 0, to = 0): void {
    if (this.at > this.first) this.out[this.at++] = COMMA;
    name.copy(this.out, this.at);
    this.at += name.length;
    if (body) {
      this.out.set(body.subarray(from, to), this.at);
      this.at += to - from;
    }
  }

  private sharedBytes(body: Uint8Array, shared: BatchShared): number {
    let bytes = 64;
    if (shared.contextAt >= 0) bytes += valueEnd(body, shared.contextAt) - shared.contextAt;
    if (shared.integrationsAt >= 0) bytes += valueEnd(body, shared.integrationsAt) - shared.integrationsAt;
    if (shared.sentAtStart >= 0) bytes += shared.sentAtEnd - shared.sentAtStart;
    return bytes;
  }

  /** Writes the batch's object at `sharedAt` merged with the event's at `ownAt` (the event's members win); returns the offset after it. */
  private writeMerged(body: Uint8Array, sharedAt: number, ownAt: number, at: number): number {
    const out = this.out;
    readMembers(body, sharedAt, this.shared);
    readMembers(body, ownAt, this.own);
    const first = at;
    out[at++] = LBRACE;
    const copy = (members: Members, i: number) => {
      if (at > first + 1) out[at++] = COMMA;
      out.set(body.subarray(members.keyStarts[i], members.valueEnds[i]), at);
      at += members.valueEnds[i] - members.keyStarts[i];
    };
    for (let i = 0; i < this.shared.count; i++) {
      if (indexOfKey(body, this.own, keyText(body, this.shared.keyStarts[i], this.shared.keyEnds[i])) < 0) copy(this.shared, i);
    }
    for (let i = 0; i < this.own.count; i++) copy(this.own, i);
    out[at++] = RBRACE;
    return at;
  }

  private ensure(bytes: number): void {
    if (bytes <= this.out.length) return;
    const grown = Buffer.allocUnsafe(Math.max(bytes, this.out.length * 2));
    this.out.copy(grown, 0, 0, this.length);
    this.out = grown;
  }
}
