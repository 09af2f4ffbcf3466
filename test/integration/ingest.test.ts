// The real gateway on free ports with its embedded kinesalite: every request shape, every bad
// input, and a read-back with tap of exactly what was acknowledged.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { deflateSync, gzipSync } from 'node:zlib';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { metricsText, waitUntilShipped } from '../support/load';
import { post, startGateway, tapStream, type Envelope, type Gateway } from '../support/processes';
import { rawRequest } from '../support/raw-request';

const MAX_BODY = 64 * 1024;
const USER_AGENT = 'ingest-test/1.0';
let gateway: Gateway;

before(async () => {
  gateway = await startGateway(['--max-body-bytes', String(MAX_BODY), '--max-event-depth', '8', '--trust-proxy-hops', '1']);
});
after(async () => {
  await gateway?.kill('SIGINT');
});

describe('bad input gets a clear answer', () => {
  const json = { 'content-type': 'application/json' };
  const cases: [string, () => ReturnType<typeof post>, number, string, RegExp?][] = [
    ['malformed JSON', () => post(gateway.url('/v1/events'), '{"a":', json), 400, 'malformed_json', /^event 0: /],
    [
      'a non-object in an array',
      () => post(gateway.url('/v1/events'), '[{"marker":"rejected"},{"marker":"rejected"},"not an object"]', json),
      400,
      'not_an_object',
      /^event 2: /,
    ],
    [
      'a bad NDJSON line',
      () => post(gateway.url('/v1/events'), '{"marker":"rejected"}\n{oops}\n', { 'content-type': 'application/x-ndjson' }),
      400,
      'malformed_json',
      /^event 1: /,
    ],
    ['invalid UTF-8', () => post(gateway.url('/v1/events'), Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), json), 400, 'invalid_utf8'],
    ['nesting past --max-event-depth', () => post(gateway.url('/v1/events'), `${'{"a":'.repeat(9)}1${'}'.repeat(9)}`, json), 400, 'too_deep'],
    ['an empty body', () => post(gateway.url('/v1/events'), '', json), 400, 'empty_body'],
    ['an empty array', () => post(gateway.url('/v1/events'), '[]', json), 400, 'empty_body'],
    [
      'a form post',
      () => post(gateway.url('/v1/events'), 'a=1', { 'content-type': 'application/x-www-form-urlencoded' }),
      415,
      'unsupported_media_type',
      /Content-Type/,
    ],
    [
      'a compressed body',
      () => post(gateway.url('/v1/events'), 'xx', { ...json, 'content-encoding': 'br' }),
      415,
      'unsupported_media_type',
      /Content-Encoding br/,
    ],
    [
      'a gzip bomb',
      () => post(gateway.url('/v1/events'), gzipSync(Buffer.alloc(8 << 20)), { ...json, 'content-encoding': 'gzip' }),
      413,
      'body_too_large',
      /inflates to more than/,
    ],
    ['a body that is not the gzip it claims', () => post(gateway.url('/v1/events'), '{"a":1}', { ...json, 'content-encoding': 'gzip' }), 400, 'bad_encoding'],
    ['a body over --max-body-bytes', () => post(gateway.url('/v1/events'), JSON.stringify({ pad: 'x'.repeat(MAX_BODY) }), json), 413, 'body_too_large'],
    ['an unknown path', () => post(gateway.url('/v2/nothing'), '{}', json), 404, 'not_found'],
  ];
  for (const [name, send, status, code, message] of cases) {
    it(`answers ${name} with ${status} ${code}`, async () => {
      const answer = await send();
      assert.equal(answer.status, status);
      assert.equal(answer.body.error, code);
      assert.equal(typeof answer.body.message, 'string');
      if (message) assert.match(answer.body.message as string, message);
      assert.match(answer.headers.get('content-type') ?? '', /application\/json/);
    });
  }

  it('answers a wrong method with 405 and an Allow header', async () => {
    const response = await fetch(gateway.url('/v1/events'));
    assert.equal(response.status, 405);
    assert.equal(response.headers.get('allow'), 'POST, OPTIONS');
    assert.equal(((await response.json()) as { error: string }).error, 'method_not_allowed');
    const health = await fetch(gateway.url('/healthz'), { method: 'DELETE' });
    assert.equal(health.status, 405);
    assert.equal(health.headers.get('allow'), 'GET');
  });

  it('refuses a chunked body as it grows past the limit', async () => {
    const chunk = 'x'.repeat(16 * 1024);
    const chunks = `${Array.from({ length: 6 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join('')}0\r\n\r\n`;
    const answer = await rawRequest(
      gateway.port,
      'POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
      chunks,
    );
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.match(answer, /"error":"body_too_large"/);
  });

  it('survives a client that aborts mid-body, and serves the next one', async () => {
    await new Promise<void>((resolve) => {
      const request = http.request({
        port: gateway.port,
        host: '127.0.0.1',
        method: 'POST',
        path: '/v1/events',
        headers: { 'content-type': 'application/json', 'content-length': '1000' },
      });
      request.on('error', () => resolve());
      request.write('{"marker":"aborted","pad":"');
      setTimeout(() => {
        request.destroy();
        resolve();
      }, 50);
    });
    const answer = await post(gateway.url('/v1/events'), '{"after":"abort"}');
    assert.equal(answer.status, 202);
  });

  it('keeps /metrics off the public port and serves it on the admin port', async () => {
    assert.equal((await fetch(gateway.url('/metrics'))).status, 404);
    const text = await metricsText(gateway);
    assert.match(text, /gateway_events_rejected_total\{reason="malformed_json"\} [1-9]/);
    assert.match(text, /gateway_requests_total\{route="\/v1\/events",status="415"\} [1-9]/);
    assert.match(text, /gateway_ring_capacity_bytes 67108864/);
    assert.match(text, /process_cpu_user_seconds_total/);
    const doc = readFileSync(path.join(__dirname, '..', '..', '..', 'docs', 'metrics.md'), 'utf8');
    const exported = [...text.matchAll(/^# TYPE (gateway_\w+)/gm)].map((m) => m[1]);
    assert.ok(exported.length >= 10);
    for (const name of exported) assert.ok(doc.includes(`\`${name}`), `${name} is documented in docs/metrics.md`);
  });

  it('answers health and readiness on both ports', async () => {
    for (const url of [gateway.url('/healthz'), gateway.adminUrl('/healthz'), gateway.url('/readyz'), gateway.adminUrl('/readyz')]) {
      assert.equal((await fetch(url)).status, 200, url);
    }
  });
});

describe('10,000 events in every request shape', () => {
  it('reach the stream exactly, each in its envelope, and nothing of a rejected request does', async () => {
    const sent = new Map<number, Record<string, unknown>>();
    let seq = 0;
    const event = () => {
      const e = { seq: seq++, type: 'page_view', url: `/p/${seq}`, props: { n: seq * 1.5, ok: seq % 2 === 0, tags: ['a', 'é'] } };
      sent.set(e.seq, e);
      return e;
    };
    const headers = (type: string) => ({ 'content-type': type, 'user-agent': USER_AGENT });
    const requests: (() => Promise<number>)[] = [];
    const add = (n: number, make: () => [string, string]) => {
      for (let i = 0; i < n; i++) {
        const [body, type] = make();
        requests.push(async () => {
          const answer = await post(gateway.url('/v1/events'), body, headers(type));
          assert.equal(answer.status, 202, JSON.stringify(answer.body));
          return answer.body.accepted as number;
        });
      }
    };
    add(1000, () => [JSON.stringify(event()), 'application/json']);
    add(200, () => [JSON.stringify(Array.from({ length: 10 }, event)), 'application/json; charset=utf-8']);
    add(60, () => [`${Array.from({ length: 50 }, () => JSON.stringify(event())).join('\n')}\n`, 'application/x-ndjson']);
    add(1000, () => [JSON.stringify(event()), 'text/plain;charset=UTF-8']);
    add(100, () => [JSON.stringify(Array.from({ length: 20 }, event)), 'text/plain']);
    add(20, () => [Array.from({ length: 50 }, () => JSON.stringify(event())).join('\r\n'), 'text/plain']);
    assert.equal(seq, 10_000);

    const logLinesBefore = gateway.logs.length;
    let accepted = 0;
    const concurrency = 32;
    for (let i = 0; i < requests.length; i += concurrency) {
      const counts = await Promise.all(requests.slice(i, i + concurrency).map((send) => send()));
      accepted += counts.reduce((a, b) => a + b, 0);
    }
    assert.equal(accepted, 10_000);
    assert.equal(gateway.logs.length, logLinesBefore, 'no log line per request at info level');
    const config = gateway.logs.find((l) => l.msg === 'effective configuration');
    assert.ok(config, 'the effective configuration is logged at start');
    assert.equal((config.config as { maxBodyBytes: number }).maxBodyBytes, MAX_BODY, 'the effective configuration is logged at start');

    // The other ways in, under another user agent: compressed bodies, a pixel, a proxied client.
    const extra = { 'user-agent': 'extras-test' };
    assert.equal(
      (
        await post(gateway.url('/v1/events'), gzipSync('{"via":"gzip"}\n{"via":"gzip"}'), {
          ...extra,
          'content-type': 'application/x-ndjson',
          'content-encoding': 'gzip',
        })
      ).status,
      202,
    );
    assert.equal(
      (
        await post(gateway.url('/v1/events'), deflateSync('[{"via":"deflate"}]'), {
          ...extra,
          'content-type': 'application/json',
          'content-encoding': 'deflate',
        })
      ).status,
      202,
    );
    assert.equal(
      (
        await post(gateway.url('/v1/events'), '{"via":"proxy"}', {
          ...extra,
          'content-type': 'application/json',
          'x-forwarded-for': '198.51.100.9, 203.0.113.7',
        })
      ).status,
      202,
    );
    const pixel = await fetch(gateway.url('/v1/pixel.gif?via=pixel&tag=a&tag=b'), { headers: extra });
    assert.equal(pixel.status, 200);
    assert.equal(pixel.headers.get('content-type'), 'image/gif');
    assert.equal(pixel.headers.get('cache-control'), 'no-cache, no-store, must-revalidate');
    assert.equal((await pixel.arrayBuffer()).byteLength, 43);

    await waitUntilShipped(gateway);
    const envelopes: Envelope[] = await tapStream(gateway.kinesisEndpoint, 'events');
    const extras = envelopes.filter((e) => e.ua === 'extras-test').map((e) => [e.path, e.ip, e.event]);
    assert.deepEqual(
      extras.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      [
        ['/v1/events', '127.0.0.1', { via: 'deflate' }],
        ['/v1/events', '127.0.0.1', { via: 'gzip' }],
        ['/v1/events', '127.0.0.1', { via: 'gzip' }],
        ['/v1/events', '203.0.113.7', { via: 'proxy' }],
        ['/v1/pixel.gif', '127.0.0.1', { via: 'pixel', tag: ['a', 'b'] }],
      ],
    );
    const fromThisTest = envelopes.filter((e) => e.ua === USER_AGENT);
    assert.equal(new Set(fromThisTest.map((e) => e.id)).size, 10_000, 'exactly 10,000 distinct ids');
    assert.equal(fromThisTest.length, 10_000, 'no duplicates');
    const seen = new Set<number>();
    for (const envelope of fromThisTest) {
      const seqOf = envelope.event.seq as number;
      assert.deepEqual(envelope.event, sent.get(seqOf));
      seen.add(seqOf);
      assert.equal(envelope.ip, '127.0.0.1');
      assert.equal(envelope.path, '/v1/events');
      assert.ok(Math.abs(envelope.receivedAt - Date.now()) < 120_000);
    }
    assert.equal(seen.size, 10_000);
    const rejected = envelopes.filter((e) => e.event.marker === 'rejected' || e.event.marker === 'aborted');
    assert.deepEqual(rejected, [], 'no event of a refused or aborted request was shipped');
  });
});
