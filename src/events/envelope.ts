// What one event looks like on the stream, and writing it straight into the ring:
//   {"id":"<uuidv7>","receivedAt":<ms>,"ip":"…","ua":"…","path":"…","event":<the client's JSON as sent>}
// The client's bytes are copied once, from the request body into shared memory; the envelope
// around them is assembled per request, not per event. With --partition-key field:<path> the
// record carries that field's value as its key; by default it carries none and the shipper spreads
// the events evenly over the shards.

import { RequestError } from '../errors';
import { MAX_RECORD_BYTES } from '../kinesis-limits';
import { dataOffset, keyOffset, recordBytes } from '../ring/ring-layout';
import { EVENT_ID_LENGTH, writeEventId } from './event-id';
import type { EventSpans } from './json-scan';
import { fieldPartitionKey, type PartitionKeyRule } from './partition-key';

const RANDOM: PartitionKeyRule = { kind: 'random' };

const OPEN = Buffer.from('{"id":"');
/** The word size of V8's copies into shared memory. */
const WORD = 8;
const CLOSE = 0x7d; // }
const ID_AT = OPEN.length;

const RECEIVED_AT_FIELD = '","receivedAt":';
const RECEIVED_AT_AT = OPEN.length + EVENT_ID_LENGTH + RECEIVED_AT_FIELD.length;

/** Reads `receivedAt` back from an envelope's bytes: it sits at a fixed offset, after the id. */
export function receivedAtOf(envelope: Uint8Array): number {
  let value = 0;
  for (let i = RECEIVED_AT_AT; i < envelope.length; i++) {
    const digit = envelope[i] - 0x30;
    if (digit < 0 || digit > 9) break;
    value = value * 10 + digit;
  }
  return value;
}

/** Reads the id back from an envelope's bytes. */
export function eventIdOf(envelope: Uint8Array): string {
  return Buffer.from(envelope.buffer, envelope.byteOffset + ID_AT, EVENT_ID_LENGTH).toString('latin1');
}

export interface RequestMeta {
  readonly receivedAt: number;
  readonly ip: string;
  readonly userAgent: string;
  readonly path: string;
}

const EVENT_FIELD = Buffer.from(',"event":');
const QUOTE = 0x22;

/** Characters a JSON string holds as they are, in one byte each: printable ASCII but quote and backslash. */
const PLAIN_JSON_TEXT = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * Writes `text` as a JSON string at `at`; returns the offset after it. Addresses, paths and almost
 * every User-Agent are plain text, copied as they are; anything else takes JSON.stringify's escaping.
 */
function writeJsonString(dest: Buffer, at: number, text: string): number {
  if (!PLAIN_JSON_TEXT.test(text)) return writeBytes(dest, at, Buffer.from(JSON.stringify(text)));
  dest[at] = QUOTE;
  dest.write(text, at + 1, 'latin1');
  dest[at + 1 + text.length] = QUOTE;
  return at + text.length + 2;
}

/** Writes a number as String() would; returns the offset after it. */
function writeNumber(dest: Buffer, at: number, value: number): number {
  return at + dest.write(String(value), at, 'latin1');
}

function writeBytes(dest: Uint8Array, at: number, bytes: Uint8Array): number {
  dest.set(bytes, at);
  return at + bytes.length;
}

/**
 * A field of the envelope middle: its name, and its last value with the bytes they encode to.
 * Consecutive requests mostly share their path (the same string per route), their millisecond, and
 * often their User-Agent (browsers freeze theirs to a few values): those are copied, name and value
 * in one piece, instead of encoded again. One per field, on one thread.
 */
class MiddleField<T extends string | number> {
  private readonly name: Buffer;
  private value: T | undefined;
  private encoded: Uint8Array = new Uint8Array(0);

  constructor(
    name: string,
    private readonly encode: (dest: Buffer, at: number, value: T) => number,
  ) {
    this.name = Buffer.from(name);
  }

  write(dest: Buffer, at: number, value: T): number {
    if (value === this.value) return writeBytes(dest, at, this.encoded);
    const end = this.encode(dest, writeBytes(dest, at, this.name), value);
    this.encoded = new Uint8Array(dest.subarray(at, end)); // a copy: dest is reused
    this.value = value;
    return end;
  }

  /** The most bytes the field takes with the string `text`: at worst each character becomes a 6-byte \uXXXX escape. */
  bound(text: string): number {
    return this.name.length + 6 * text.length + 2;
  }
}

const receivedAtField = new MiddleField<number>(RECEIVED_AT_FIELD, writeNumber);
const ipField = new MiddleField<string>(',"ip":', writeJsonString);
const userAgentField = new MiddleField<string>(',"ua":', writeJsonString);
const pathField = new MiddleField<string>(',"path":', writeJsonString);

/** The most bytes a request's envelope middle can take (a safe integer has at most 16 digits). */
export function envelopeMiddleBound(meta: RequestMeta): number {
  return RECEIVED_AT_FIELD.length + 16 + ipField.bound(meta.ip) + userAgentField.bound(meta.userAgent) + pathField.bound(meta.path) + EVENT_FIELD.length;
}

/**
 * Encodes the envelope bytes between the id and the event, the same for every event of one
 * request, at `start` in `dest` (with at least envelopeMiddleBound bytes from there); returns the
 * offset after them. Written in place rather than built as a string and then encoded: it runs for
 * every request.
 */
export function writeEnvelopeMiddle(dest: Buffer, start: number, meta: RequestMeta): number {
  let at = receivedAtField.write(dest, start, meta.receivedAt);
  at = ipField.write(dest, at, meta.ip);
  at = userAgentField.write(dest, at, meta.userAgent);
  at = pathField.write(dest, at, meta.path);
  return writeBytes(dest, at, EVENT_FIELD);
}

/** A scratch buffer with the record head's opening at phase 0. */
function newScratch(size: number): Buffer {
  const scratch = Buffer.allocUnsafeSlow(size);
  scratch.set(OPEN, 0);
  return scratch;
}

/**
 * Random keys are left out of the ring: the shipper deals keyless events evenly over the shards.
 * An event that lacks its --partition-key field gets its id, which is as random.
 */
function keyBytesOf(key: Buffer | undefined, rule: PartitionKeyRule): number {
  if (key) return key.length;
  return rule.kind === 'field' ? EVENT_ID_LENGTH : 0;
}

/** Where envelopes are written: the ring, or the spool's staging buffer (the same record layout). */
export interface RecordSink {
  /** Reserves one record of `size` bytes and writes its header; returns its offset in `bytes`. */
  reserve(size: number, keyBytes: number): number;
  /** Must stay the same array while one request is written. */
  readonly bytes: Uint8Array;
}

/**
 * Measures a request's events in their envelopes, then writes them into a sink. The plan is kept
 * in reused arrays that never shrink (their first `count` entries are the request's): one request
 * is planned and written at a time, on the main thread.
 */
export class EnvelopeWriter {
  /** Record sizes of the planned events, in order: the first `count` entries. */
  readonly sizes: number[] = [];
  /** Events planned. */
  count = 0;
  /** Sum of the planned sizes. */
  total = 0;
  /** Events that lacked the --partition-key field and were given their id as key. */
  keyFallbacks = 0;
  /** With --partition-key field: each planned event's key, if it had one. */
  private readonly keys: (Buffer | undefined)[] = [];
  private body: Uint8Array = new Uint8Array(0);
  private spans: EventSpans | undefined;
  /**
   * The current request's record data up to its event (`{"id":"<id>` and the middle), assembled
   * in private memory and copied into each record whole. TypedArray.set into a SharedArrayBuffer
   * copies byte by byte unless source and destination agree in their alignment (V8's relaxed
   * memmove), so the head sits at the offset that matches the record's: `phase`, and moves when a
   * record's differs. Its own ArrayBuffer, so that offset 0 is aligned; grown for a long User-Agent.
   */
  private scratch = newScratch(4096);
  private phase = 0;
  private headLength = 0;
  /** A view of the head at each phase, made once per head length: making one costs more than the bytes it views. */
  private readonly heads: (Uint8Array | undefined)[] = [];
  private receivedAt = 0;

  constructor(private readonly keyRule: PartitionKeyRule = RANDOM) {}

  /** Plans every event of a request; throws when one could never be taken, or all of them take more than maxTotal bytes. */
  plan(body: Uint8Array, spans: EventSpans, meta: RequestMeta, maxTotal: number): void {
    const keyRule = this.keyRule;
    const byField = keyRule.kind === 'field';
    this.body = body;
    this.spans = spans;
    this.receivedAt = meta.receivedAt;
    const bound = WORD + ID_AT + EVENT_ID_LENGTH + envelopeMiddleBound(meta);
    if (this.scratch.length < bound) {
      this.scratch = newScratch(bound);
      this.phase = 0;
      this.heads.fill(undefined);
    }
    const headLength = writeEnvelopeMiddle(this.scratch, this.phase + ID_AT + EVENT_ID_LENGTH, meta) - this.phase;
    if (headLength !== this.headLength) {
      this.heads.fill(undefined);
      this.headLength = headLength;
    }
    const overhead = headLength + 1;
    let total = 0;
    this.count = 0;
    this.keyFallbacks = 0;
    for (let i = 0; i < spans.count; i++) {
      let keyBytes = 0;
      if (byField) {
        const key = fieldPartitionKey(body, spans.starts[i], keyRule.path);
        if (!key) this.keyFallbacks++;
        this.keys[i] = key;
        keyBytes = keyBytesOf(key, keyRule);
      }
      const dataBytes = overhead + spans.ends[i] - spans.starts[i];
      if (dataBytes + keyBytes > MAX_RECORD_BYTES) {
        throw new RequestError('event_too_large', `event ${i}: ${dataBytes} bytes in its envelope, more than the 1 MiB Kinesis record limit`);
      }
      const size = recordBytes(keyBytes, dataBytes);
      this.sizes[i] = size;
      total += size;
    }
    this.count = spans.count;
    this.total = total;
    if (total > maxTotal) {
      // It could never fit beside other traffic: retrying would not help, so this is not a 503.
      throw new RequestError('body_too_large', `the events take ${total} bytes in their envelopes, more than half the gateway buffer; send fewer per request`);
    }
  }

  /** Writes the planned events into the sink, in order; the caller has made sure they fit. */
  write(sink: RecordSink): void {
    const { body, spans, keyRule } = this;
    const byField = keyRule.kind === 'field';
    const bytes = sink.bytes;
    const bytesOffset = bytes.byteOffset;
    const eventOffset = this.headLength;
    for (let i = 0; i < this.count; i++) {
      const key = byField ? this.keys[i] : undefined;
      const keyBytes = byField ? keyBytesOf(key, keyRule) : 0;
      const record = sink.reserve(this.sizes[i], keyBytes);
      const at = dataOffset(record, keyBytes);
      const start = spans!.starts[i];
      const end = spans!.ends[i];
      const head = this.headAligned(bytesOffset + at);
      writeEventId(this.scratch, this.phase + ID_AT, this.receivedAt);
      bytes.set(head, at);
      // Most requests carry one event and nothing around it: its bytes need no view of their own.
      bytes.set(start === 0 && end === body.length ? body : body.subarray(start, end), at + eventOffset);
      bytes[at + eventOffset + end - start] = CLOSE;
      if (key) bytes.set(key, keyOffset(record));
      else if (keyBytes > 0) bytes.copyWithin(keyOffset(record), at + ID_AT, at + ID_AT + EVENT_ID_LENGTH);
    }
    // Let the keys' Buffers go.
    if (byField) this.keys.fill(undefined, 0, this.count);
  }

  /** The head, moved to the alignment of `destination` (an offset in the destination's ArrayBuffer). */
  private headAligned(destination: number): Uint8Array {
    const phase = destination & (WORD - 1);
    if (phase !== this.phase) {
      this.scratch.copyWithin(phase, this.phase, this.phase + this.headLength);
      this.phase = phase;
    }
    let head = this.heads[phase];
    if (!head) {
      head = this.scratch.subarray(phase, phase + this.headLength);
      this.heads[phase] = head;
    }
    return head;
  }
}
