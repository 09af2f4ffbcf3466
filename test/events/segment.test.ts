import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestError } from '../../src/errors';
import { SEGMENT_MAX_BATCH_BYTES, SEGMENT_MAX_EVENT_BYTES, SegmentReader } from '../../src/events/segment';

type Json = Record<string, unknown>;

function eventsOf(reader: SegmentReader): Json[] {
  const body = Buffer.from(reader.body);
  return reader.spans.starts.map((start, i) => JSON.parse(body.subarray(start, reader.spans.ends[i]).toString('utf8')));
}

function read(body: string | Json, type: Parameters<SegmentReader['read']>[1] = 'batch'): Json[] {
  const reader = new SegmentReader();
  reader.read(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), type, 8);
  return eventsOf(reader);
}

function refusal(body: string | Buffer, type: Parameters<SegmentReader['read']>[1], maxDepth = 8): RequestError {
  try {
    new SegmentReader().read(Buffer.from(body), type, maxDepth);
  } catch (err) {
    assert.ok(err instanceof RequestError);
    return err;
  }
  assert.fail('the body was taken');
}

describe('Segment calls', () => {
  it('keeps a call as sent, without its write key, with the type of its route and a messageId made for it', () => {
    const [event] = read({ userId: 'u1', event: 'Clicked', properties: { a: [1, { b: 'x' }] }, writeKey: 'secret' }, 'track');
    assert.equal(event.type, 'track');
    assert.equal(event.writeKey, undefined);
    assert.match(event.messageId as string, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const { type: _type, messageId: _messageId, ...rest } = event;
    assert.deepEqual(rest, { userId: 'u1', event: 'Clicked', properties: { a: [1, { b: 'x' }] } });
  });

  it("keeps a sent messageId and type, and reports the body's write key", () => {
    const reader = new SegmentReader();
    reader.read(Buffer.from(' { "type" : "page", "messageId" : "m-1", "writeKey":"k\\u0031", "name": "Home" } '), 'track', 8);
    assert.equal(reader.writeKey, 'k1');
    assert.deepEqual(eventsOf(reader), [{ type: 'page', messageId: 'm-1', name: 'Home' }]);
  });

  it("turns a batch into one event per call, merging the batch context and integrations (the call's own keys win) and its sentAt", () => {
    const events = read({
      batch: [
        { type: 'track', messageId: 'a', event: 'E', context: { page: { path: '/' }, ip: '1.2.3.4' } },
        { type: 'identify', messageId: 'b', traits: { n: 1 }, integrations: { All: false } },
        { type: 'alias', messageId: 'c', sentAt: 'own', context: 'not an object' },
      ],
      context: { library: { name: 'lib' }, ip: '9.9.9.9' },
      integrations: { All: true, Mixpanel: false },
      sentAt: '2026-01-01T00:00:00.000Z',
      writeKey: 'k',
    });
    assert.deepEqual(events, [
      {
        type: 'track',
        messageId: 'a',
        event: 'E',
        context: { library: { name: 'lib' }, page: { path: '/' }, ip: '1.2.3.4' },
        integrations: { All: true, Mixpanel: false },
        sentAt: '2026-01-01T00:00:00.000Z',
      },
      {
        type: 'identify',
        messageId: 'b',
        traits: { n: 1 },
        integrations: { Mixpanel: false, All: false },
        context: { library: { name: 'lib' }, ip: '9.9.9.9' },
        sentAt: '2026-01-01T00:00:00.000Z',
      },
      { type: 'alias', messageId: 'c', sentAt: 'own', context: 'not an object', integrations: { All: true, Mixpanel: false } },
    ]);
  });

  it('makes a distinct messageId for every call that lacks one', () => {
    const events = read({ batch: Array.from({ length: 50 }, () => ({ type: 'track', event: 'E' })) });
    assert.equal(new Set(events.map((e) => e.messageId)).size, 50);
  });

  const bad: [string, string | Buffer, Parameters<SegmentReader['read']>[1], string, RegExp][] = [
    ['a batch without a batch array', '{"writeKey":"k"}', 'batch', 'segment_invalid', /"batch" array/],
    ['a batch whose batch is not an array', '{"batch":{}}', 'batch', 'segment_invalid', /"batch" array/],
    ['a call in a batch without a type', '{"batch":[{"type":"track"},{"event":"E"}]}', 'batch', 'segment_invalid', /^event 1: /],
    ['a call in a batch that is not an object', '{"batch":[{"type":"track"},3]}', 'batch', 'not_an_object', /^event 1: /],
    ['an empty batch', '{"batch":[]}', 'batch', 'empty_body', /no calls/],
    ['a body that is an array', '[{"type":"track"}]', 'track', 'not_an_object', /one JSON object/],
    ['malformed JSON', '{"batch":[{"type":"track"]}', 'batch', 'malformed_json', /^event 0: /],
    ['invalid UTF-8', Buffer.from('{"event":"\xff"}', 'latin1'), 'track', 'invalid_utf8', /UTF-8/],
    ['an empty body', '  ', 'track', 'empty_body', /no events/],
    ['a call past 32 KB', JSON.stringify({ event: 'x'.repeat(SEGMENT_MAX_EVENT_BYTES) }), 'track', 'segment_too_large', /32768/],
    [
      'a call in a batch past 32 KB',
      JSON.stringify({ batch: [{ type: 'track', p: 'x'.repeat(SEGMENT_MAX_EVENT_BYTES) }] }),
      'batch',
      'segment_too_large',
      /^event 0: /,
    ],
    [
      'a batch past 500 KB',
      JSON.stringify({ batch: Array.from({ length: 20 }, () => ({ type: 'track', p: 'x'.repeat(30_000) })) }),
      'batch',
      'segment_too_large',
      new RegExp(`${SEGMENT_MAX_BATCH_BYTES}`),
    ],
    ['a call nested deeper than the limit', `{"a":${'['.repeat(8)}${']'.repeat(8)}}`, 'track', 'too_deep', /deeper/],
    ['a call in a batch nested deeper than the limit', `{"batch":[{"type":"track","a":${'['.repeat(8)}${']'.repeat(8)}}]}`, 'batch', 'too_deep', /deeper/],
  ];
  for (const [name, body, type, code, message] of bad) {
    it(`refuses ${name} with ${code}`, () => {
      const error = refusal(body, type);
      assert.equal(error.code, code);
      assert.equal(error.status, 400);
      assert.match(error.message, message);
    });
  }

  it("allows a batch's calls the same depth as a single call", () => {
    const nested = `{"a":${'['.repeat(6)}${']'.repeat(6)}}`;
    assert.equal(read(nested, 'track').length, 1);
    assert.equal(read(`{"batch":[${nested.replace('{', '{"type":"track",')}]}`).length, 1);
  });
});
