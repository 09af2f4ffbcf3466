// What one event looks like on the stream, and writing it straight into the ring:
//   {"id":"<uuidv7>","receivedAt":<ms>,"ip":"…","ua":"…","path":"…","event":<the client's JSON as sent>}
// The client's bytes are copied once, from the request body into shared memory; the envelope
// around them is assembled per request, not per event. The partition key is the event's id: unique
// and random in its low bits, so MD5 spreads events evenly over the shards.

import { RequestError } from '../errors';
import { dataOffset, keyOffset, recordBytes } from '../ring/ring-layout';
import type { RingWriter } from '../ring/ring-writer';
import { EVENT_ID_LENGTH, writeEventId } from './event-id';
import type { EventSpans } from './json-scan';

const OPEN = Buffer.from('{"id":"');
const CLOSE = 0x7d; // }
const ID_AT = OPEN.length;
/** Kinesis counts data plus partition key against its 1 MiB record limit. */
const MAX_RECORD_PAYLOAD = 1024 * 1024;

export interface RequestMeta {
  readonly receivedAt: number;
  readonly ip: string;
  readonly userAgent: string;
  readonly path: string;
}

/** The envelope bytes between the id and the event, the same for every event of one request. */
export function envelopeMiddle(meta: RequestMeta): Buffer {
  return Buffer.from(
    `","receivedAt":${meta.receivedAt},"ip":${JSON.stringify(meta.ip)},"ua":${JSON.stringify(meta.userAgent)},"path":${JSON.stringify(meta.path)},"event":`,
  );
}

const sizes: number[] = [];

/**
 * Writes every event of a request into the ring, or none: a request that does not fit whole is
 * refused before anything is written, so nothing of a rejected request reaches the stream.
 */
export function writeEvents(body: Uint8Array, spans: EventSpans, meta: RequestMeta, ring: RingWriter): number {
  const middle = envelopeMiddle(meta);
  const overhead = OPEN.length + EVENT_ID_LENGTH + middle.length + 1;
  sizes.length = 0;
  let total = 0;
  for (let i = 0; i < spans.count; i++) {
    const dataBytes = overhead + spans.ends[i] - spans.starts[i];
    if (dataBytes + EVENT_ID_LENGTH > MAX_RECORD_PAYLOAD) {
      throw new RequestError('event_too_large', `event ${i}: ${dataBytes} bytes in its envelope, more than the 1 MiB Kinesis record limit`);
    }
    const size = recordBytes(EVENT_ID_LENGTH, dataBytes);
    sizes.push(size);
    total += size;
  }
  if (total > ring.capacity / 2) {
    // It could never fit beside other traffic: retrying would not help, so this is not a 503.
    throw new RequestError('body_too_large', `the events take ${total} bytes in their envelopes, more than half the gateway buffer; send fewer per request`);
  }
  if (!ring.fits(sizes)) throw new RequestError('buffer_full', 'the gateway buffer is full');

  const bytes = ring.views.bytes;
  for (let i = 0; i < spans.count; i++) {
    const record = ring.reserve(sizes[i], EVENT_ID_LENGTH);
    const at = dataOffset(record, EVENT_ID_LENGTH);
    bytes.set(OPEN, at);
    writeEventId(bytes, at + ID_AT, meta.receivedAt);
    bytes.set(middle, at + ID_AT + EVENT_ID_LENGTH);
    const eventAt = at + ID_AT + EVENT_ID_LENGTH + middle.length;
    bytes.set(body.subarray(spans.starts[i], spans.ends[i]), eventAt);
    bytes[eventAt + spans.ends[i] - spans.starts[i]] = CLOSE;
    bytes.copyWithin(keyOffset(record), at + ID_AT, at + ID_AT + EVENT_ID_LENGTH);
  }
  return spans.count;
}
