import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RequestError } from '../../src/errors';
import { EVENT_ID_LENGTH, writeEventId } from '../../src/events/event-id';
import { EnvelopeWriter, envelopeMiddleBound, receivedAtOf, writeEnvelopeMiddle, type RequestMeta } from '../../src/events/envelope';
import { EventSpans, scanEvents } from '../../src/events/json-scan';
import { parsePartitionKeyRule } from '../../src/events/partition-key';
import { createRingBuffer, RingViews } from '../../src/ring/ring-layout';
import { readBatch } from '../../src/ring/ring-reader';
import { RingWriter, type BatchDescriptor } from '../../src/ring/ring-writer';
import { Intake, intakeCounters } from '../../src/intake/intake';
import { StreamAcks } from '../../src/intake/stream-acks';
import { METRICS } from '../../src/metrics/metric-definitions';
import { SharedMetrics } from '../../src/metrics/shared-metrics';

/** A request's envelope middle in a buffer of its own. */
function envelopeMiddle(m: RequestMeta): Buffer {
  const dest = Buffer.alloc(envelopeMiddleBound(m));
  return dest.subarray(0, writeEnvelopeMiddle(dest, 0, m));
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const meta = { receivedAt: 1_700_000_000_123, ip: '203.0.113.7', userAgent: 'Mozilla/5.0 "quoted"', path: '/v1/events' };

/** Takes a request's events into the ring as the gateway does without a spool: all or none, answered at once. */
function takeIntoRing(ring: RingWriter, body: Uint8Array, spans: EventSpans, keyRule = 'random'): void {
  const metrics = new SharedMetrics();
  const intake = new Intake({
    ring,
    spool: undefined,
    durability: 'memory',
    acks: new StreamAcks(1000, metrics.histogram(METRICS.ackWait)),
    keyRule: parsePartitionKeyRule(keyRule),
    counters: intakeCounters(metrics),
  });
  intake.take(body, spans, meta, false, { onAnswer: () => undefined });
}

function ingest(body: string, capacity = 64 * 1024, keyRule = 'random'): { envelopes: Record<string, unknown>[]; keys: string[]; raw: string[] } {
  const buffer = createRingBuffer(capacity);
  const published: BatchDescriptor[] = [];
  const ring = new RingWriter(buffer, { maxRecords: 500, maxBytes: capacity, lingerMs: 60_000 }, (b) => published.push(b));
  const spans = new EventSpans();
  const bytes = Buffer.from(body);
  scanEvents(bytes, 'auto', 32, spans);
  takeIntoRing(ring, bytes, spans, keyRule);
  ring.closeBatch();
  const records = published.flatMap((b) => readBatch(new RingViews(buffer), b.start, b.end));
  const raw = records.map((r) => Buffer.from(r.data).toString());
  return { envelopes: raw.map((text) => JSON.parse(text)), keys: records.map((r) => r.partitionKey), raw };
}

describe('event ids', () => {
  it('are UUIDv7, unique and ordered, even thousands in one millisecond', () => {
    const ids: string[] = [];
    const buffer = Buffer.alloc(EVENT_ID_LENGTH);
    for (let i = 0; i < 10_000; i++) {
      writeEventId(buffer, 0, 1_700_000_000_000);
      ids.push(buffer.toString('latin1'));
    }
    for (const id of ids.slice(0, 100)) assert.match(id, UUID_V7);
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual([...ids].sort(), ids);
  });

  it('carry their millisecond in the first 48 bits', () => {
    const buffer = Buffer.alloc(EVENT_ID_LENGTH);
    const later = 1_900_000_000_000;
    writeEventId(buffer, 0, later);
    const hex = buffer.toString('latin1').replace(/-/g, '').slice(0, 12);
    assert.equal(parseInt(hex, 16), later);
  });
});

describe('envelopes', () => {
  it('wrap each event with id, receivedAt, ip, ua and path, embedding the event bytes as sent', () => {
    const { envelopes, keys, raw } = ingest('[{"b":1,"a":[1.50,"x"]},{"c":{}}]');
    assert.equal(envelopes.length, 2);
    for (const [i, envelope] of envelopes.entries()) {
      assert.deepEqual(Object.keys(envelope), ['id', 'receivedAt', 'ip', 'ua', 'path', 'event']);
      assert.match(envelope.id as string, UUID_V7);
      assert.equal(keys[i], '', 'random keys are left to the shipper');
      assert.equal(envelope.receivedAt, meta.receivedAt);
      assert.equal(envelope.ip, meta.ip);
      assert.equal(envelope.ua, meta.userAgent);
      assert.equal(envelope.path, '/v1/events');
    }
    assert.ok(raw[0].endsWith(',"event":{"b":1,"a":[1.50,"x"]}}'), 'number formatting and key order are kept');
    assert.deepEqual(envelopes[1].event, { c: {} });
  });

  it('encode ip, ua and path exactly as JSON.stringify would, whatever their characters', () => {
    const userAgents = [
      'Mozilla/5.0 (X11; Linux x86_64) Chrome/142.0.0.0',
      '',
      'say "hi"',
      'back\\slash',
      'tab\there\nnewline\u0000nul\u001fus\u007fdel',
      'Größe ümlaut',
      '日本語のUA',
      'emoji 🎉 pair',
      'lone \ud800 high',
      'lone \udc00 low',
      `${'x'.repeat(9000)}"`,
    ];
    const metas: RequestMeta[] = userAgents.map((userAgent, i) => ({
      receivedAt: [0, 7, 1_700_000_000_123, Number.MAX_SAFE_INTEGER][i % 4],
      ip: i % 2 ? '2001:db8::1' : '203.0.113.7',
      userAgent,
      path: i % 3 ? '/v1/events' : '/v1/pixel.gif',
    }));
    for (const m of metas) {
      const expected = Buffer.from(
        `","receivedAt":${m.receivedAt},"ip":${JSON.stringify(m.ip)},"ua":${JSON.stringify(m.userAgent)},"path":${JSON.stringify(m.path)},"event":`,
      );
      assert.equal(envelopeMiddle(m).toString('latin1'), expected.toString('latin1'), JSON.stringify(m.userAgent.slice(0, 40)));
    }
  });

  it("are the same when a field repeats the last request's value (copied) or changes (encoded again)", () => {
    const fresh = (text: string) => [...text].join(''); // equal content, another string
    const ua = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) "frozen"';
    const sequence: RequestMeta[] = [
      { receivedAt: 1_700_000_000_123, ip: '203.0.113.7', userAgent: ua, path: '/v1/events' },
      { receivedAt: 1_700_000_000_123, ip: fresh('203.0.113.7'), userAgent: fresh(ua), path: '/v1/events' },
      { receivedAt: 1_700_000_000_124, ip: '203.0.113.8', userAgent: ua.replace('Win64', 'WOW64'), path: '/v1/pixel.gif' },
      { receivedAt: 1_700_000_000_124, ip: '203.0.113.8', userAgent: 'é\n', path: '/v1/pixel.gif' },
      { receivedAt: 1_700_000_000_123, ip: '203.0.113.7', userAgent: fresh(ua), path: '/v1/events' },
    ];
    for (const m of sequence) {
      const expected = `","receivedAt":${m.receivedAt},"ip":${JSON.stringify(m.ip)},"ua":${JSON.stringify(m.userAgent)},"path":${JSON.stringify(m.path)},"event":`;
      assert.equal(envelopeMiddle(m).toString(), expected);
    }
  });

  it('grow their scratch space for a User-Agent longer than it', () => {
    const long = { ...meta, userAgent: 'é"'.repeat(20_000) };
    const buffer = createRingBuffer(1024 * 1024);
    const published: BatchDescriptor[] = [];
    const ring = new RingWriter(buffer, { maxRecords: 500, maxBytes: 1024 * 1024, lingerMs: 60_000 }, (b) => published.push(b));
    const spans = new EventSpans();
    const body = Buffer.from('{"a":1}');
    scanEvents(body, 'json', 32, spans);
    const metrics = new SharedMetrics();
    const intake = new Intake({
      ring,
      spool: undefined,
      durability: 'memory',
      acks: new StreamAcks(1000, metrics.histogram(METRICS.ackWait)),
      keyRule: parsePartitionKeyRule('random'),
      counters: intakeCounters(metrics),
    });
    intake.take(body, spans, long, false, { onAnswer: () => undefined });
    ring.closeBatch();
    const [record] = published.flatMap((b) => readBatch(new RingViews(buffer), b.start, b.end));
    assert.equal(JSON.parse(Buffer.from(record.data).toString()).ua, long.userAgent);
  });

  it("carry each request's own fields and events when one writer takes request after request", () => {
    const buffer = createRingBuffer(64 * 1024);
    const published: BatchDescriptor[] = [];
    const ring = new RingWriter(buffer, { maxRecords: 500, maxBytes: 64 * 1024, lingerMs: 60_000 }, (b) => published.push(b));
    const writer = new EnvelopeWriter();
    // Same-length middles with other bytes, a middle of another length, and bodies that are one
    // event exactly or hold their events among other bytes.
    const requests: [RequestMeta, string][] = [
      [meta, '{"n":1}'],
      [{ ...meta, ip: '203.0.113.8', receivedAt: meta.receivedAt + 1 }, '{"n":2}\n'],
      [{ ...meta, ip: '198.51.100.20' }, '[{"n":3},{"n":4}]'],
      [{ ...meta, userAgent: 'Mozilla/5.0 "other"' }, '{"n":5}'],
    ];
    const spans = new EventSpans();
    for (const [m, body] of requests) {
      const bytes = Buffer.from(body);
      scanEvents(bytes, 'auto', 32, spans);
      writer.plan(bytes, spans, m, Number.POSITIVE_INFINITY);
      writer.write(ring);
    }
    ring.closeBatch();
    const envelopes = published.flatMap((b) => readBatch(new RingViews(buffer), b.start, b.end)).map((r) => JSON.parse(Buffer.from(r.data).toString()));
    const fields = ({ receivedAt, ip, ua, event }: Record<string, unknown>) => ({ receivedAt, ip, ua, event });
    assert.deepEqual(envelopes.map(fields), [
      { receivedAt: meta.receivedAt, ip: meta.ip, ua: meta.userAgent, event: { n: 1 } },
      { receivedAt: meta.receivedAt + 1, ip: '203.0.113.8', ua: meta.userAgent, event: { n: 2 } },
      { receivedAt: meta.receivedAt, ip: '198.51.100.20', ua: meta.userAgent, event: { n: 3 } },
      { receivedAt: meta.receivedAt, ip: '198.51.100.20', ua: meta.userAgent, event: { n: 4 } },
      { receivedAt: meta.receivedAt, ip: meta.ip, ua: 'Mozilla/5.0 "other"', event: { n: 5 } },
    ]);
  });

  it('are whole at every alignment of the record in the ring, the head moved to match each', () => {
    const buffer = createRingBuffer(64 * 1024);
    const published: BatchDescriptor[] = [];
    const ring = new RingWriter(buffer, { maxRecords: 500, maxBytes: 64 * 1024, lingerMs: 60_000 }, (b) => published.push(b));
    const writer = new EnvelopeWriter();
    const spans = new EventSpans();
    // Pads of 0 to 7 bytes put the records at every offset modulo 8 (checked below), and a middle
    // of another length every fifth request moves the event's offset within them as well.
    const sent = Array.from({ length: 40 }, (_, n) => ({
      m: { ...meta, ip: n % 5 === 4 ? '198.51.100.20' : meta.ip, receivedAt: meta.receivedAt + n },
      event: { n, pad: 'x'.repeat(n % 8) },
    }));
    for (const { m, event } of sent) {
      const bytes = Buffer.from(JSON.stringify(event));
      scanEvents(bytes, 'json', 32, spans);
      writer.plan(bytes, spans, m, Number.POSITIVE_INFINITY);
      writer.write(ring);
    }
    ring.closeBatch();
    const records = published.flatMap((b) => readBatch(new RingViews(buffer), b.start, b.end));
    assert.equal(new Set(records.map((r) => r.data.byteOffset % 8)).size, 8);
    const envelopes = records.map((r) => JSON.parse(Buffer.from(r.data).toString()));
    assert.deepEqual(
      envelopes.map(({ receivedAt, ip, event }) => ({ receivedAt, ip, event })),
      sent.map(({ m, event }) => ({ receivedAt: m.receivedAt, ip: m.ip, event })),
    );
    assert.ok(envelopes.every(({ id }) => UUID_V7.test(id)));
    assert.equal(new Set(envelopes.map(({ id }) => id)).size, sent.length);
  });

  it('carry the --partition-key field as the record key, or the id when the field is missing', () => {
    const { envelopes, keys } = ingest('[{"userId":"u-1"},{"other":1},{"userId":7}]', 64 * 1024, 'field:userId');
    assert.deepEqual(keys, ['u-1', envelopes[1].id, '7']);
  });

  it('refuse the whole request with 503 when it does not fit, writing nothing', () => {
    const buffer = createRingBuffer(16 * 1024);
    const ring = new RingWriter(buffer, { maxRecords: 500, maxBytes: 16 * 1024, lingerMs: 60_000 }, () => {});
    const spans = new EventSpans();
    const body = Buffer.from(Array.from({ length: 8 }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(100) })).join('\n'));
    scanEvents(body, 'ndjson', 32, spans);
    let requests = 0;
    let before = 0;
    const isBufferFull = (err: RequestError) => err.code === 'buffer_full' && err.status === 503;
    assert.throws(() => {
      for (;;) {
        before = ring.used;
        takeIntoRing(ring, body, spans);
        requests++;
      }
    }, isBufferFull);
    assert.ok(requests >= 3, `${requests} requests fit before the ring was full`);
    assert.equal(ring.used, before, 'nothing of the refused request was written');
  });

  it('refuse an event whose envelope exceeds the 1 MiB record limit with 413', () => {
    const buffer = createRingBuffer(8 * 1024 * 1024);
    const ring = new RingWriter(buffer, { maxRecords: 500, maxBytes: 5 * 1024 * 1024, lingerMs: 60_000 }, () => {});
    const spans = new EventSpans();
    const body = Buffer.from(`{"a":1}\n{"big":"${'x'.repeat(1024 * 1024 - 100)}"}`);
    scanEvents(body, 'ndjson', 32, spans);
    assert.throws(
      () => takeIntoRing(ring, body, spans),
      (err: RequestError) => err.code === 'event_too_large' && /^event 1: /.test(err.message),
    );
    assert.equal(ring.used, 0);
  });
});

describe('planning envelopes', () => {
  const MiB = 1024 * 1024;
  /** `{"id":"` + the id + the middle + the event + `}`: the data of one record. */
  const dataBytes = (eventBytes: number) => '{"id":"'.length + EVENT_ID_LENGTH + envelopeMiddle(meta).length + eventBytes + 1;

  function plan(body: string, keyRule = 'random', maxTotal = Number.POSITIVE_INFINITY): EnvelopeWriter {
    const spans = new EventSpans();
    const bytes = Buffer.from(body);
    scanEvents(bytes, 'auto', 32, spans);
    const writer = new EnvelopeWriter(parsePartitionKeyRule(keyRule));
    writer.plan(bytes, spans, meta, maxTotal);
    return writer;
  }

  it('counts the events that lacked the --partition-key field', () => {
    assert.equal(plan('[{"userId":"a"},{"x":1},{"y":2}]', 'field:userId').keyFallbacks, 2);
    assert.equal(plan('[{"x":1}]').keyFallbacks, 0, 'a random key is no fallback');
  });

  it('takes an event whose data and key make exactly 1 MiB, and refuses one byte more', () => {
    const event = (pad: number) => `{"userId":"k","p":"${'x'.repeat(pad)}"}`;
    const fits = MiB - 1 - dataBytes(event(0).length); // the key "k" is the 1
    assert.equal(plan(event(fits), 'field:userId').count, 1);
    assert.throws(
      () => plan(event(fits + 1), 'field:userId'),
      (err: RequestError) => err.code === 'event_too_large' && err.status === 413,
    );
  });

  it('refuses a request whose events would take more than the limit it is given (half the ring)', () => {
    const body = '[{"a":1},{"b":2}]';
    const total = plan(body).total;
    assert.equal(plan(body, 'random', total).count, 2);
    assert.throws(
      () => plan(body, 'random', total - 1),
      (err: RequestError) =>
        err.code === 'body_too_large' &&
        err.message === `the events take ${total} bytes in their envelopes, more than half the gateway buffer; send fewer per request`,
    );
  });

  it('can read receivedAt back from the bytes of an envelope', () => {
    const { raw } = ingest('{"a":1}');
    assert.equal(receivedAtOf(Buffer.from(raw[0])), meta.receivedAt);
    const other = Buffer.concat([
      Buffer.from('{"id":"'),
      Buffer.alloc(EVENT_ID_LENGTH, 'x'),
      envelopeMiddle({ ...meta, receivedAt: 1_799_999_999_990 }),
      Buffer.from('{}}'),
    ]);
    assert.equal(receivedAtOf(other), 1_799_999_999_990);
  });
});
