// Who may send: CORS origins, write keys, the per-IP rate, and the length and header limits.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { post, runCli, startGateway, tapStream, type Answer, type Gateway } from '../support/processes';
import { metricsText, waitUntilShipped } from '../support/load';
import { rawRequest } from '../support/raw-request';
import { tempDir } from '../support/temp-dir';

const ALLOWED = 'https://shop.example';
let gateway: Gateway;
const keysFile = path.join(tempDir('keys-'), 'keys.txt');

before(async () => {
  writeFileSync(keysFile, 'file-key\n\n');
  gateway = await startGateway([
    '--cors-origins',
    `${ALLOWED},https://blog.example`,
    '--write-keys',
    'flag-key',
    '--write-keys-file',
    keysFile,
    '--rate-limit-per-ip',
    '20',
    '--max-header-bytes',
    '4KiB',
    '--trust-proxy-hops',
    '1',
  ]);
});
after(async () => {
  await gateway?.kill('SIGINT');
});

const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
const json = (extra: Record<string, string> = {}) => ({ 'content-type': 'application/json', authorization: basic('flag-key'), ...extra });

describe('admission', () => {
  it('answers a preflight from an allowed origin with the CORS headers', async () => {
    const response = await fetch(gateway.url('/v1/events'), {
      method: 'OPTIONS',
      headers: { origin: ALLOWED, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    assert.equal(response.status, 204);
    assert.equal(response.headers.get('access-control-allow-origin'), ALLOWED);
    assert.match(response.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(response.headers.get('access-control-allow-headers') ?? '', /Content-Type/);
    assert.equal(response.headers.get('access-control-max-age'), '86400');
    assert.equal(response.headers.get('vary'), 'Origin');
  });

  it('gives a disallowed origin no CORS headers, refuses its events with 403, and counts it', async () => {
    const preflight = await fetch(gateway.url('/v1/events'), { method: 'OPTIONS', headers: { origin: 'https://evil.example' } });
    assert.equal(preflight.headers.get('access-control-allow-origin'), null);
    const answer = await post(gateway.url('/v1/events'), '{"marker":"evil"}', json({ origin: 'https://evil.example' }));
    assert.equal(answer.status, 403);
    assert.equal(answer.body.error, 'origin_not_allowed');
    assert.equal(answer.headers.get('access-control-allow-origin'), null);
    const metrics = await metricsText(gateway);
    assert.match(metrics, /^gateway_cors_refused_total [2-9]/m);
  });

  it('answers an allowed origin with its CORS header', async () => {
    const answer = await post(gateway.url('/v1/events'), '{"marker":"allowed"}', json({ origin: ALLOWED }));
    assert.equal(answer.status, 202);
    assert.equal(answer.headers.get('access-control-allow-origin'), ALLOWED);
  });

  it('needs a write key: 401 without, 403 for an unknown one; header, query and file keys work', async () => {
    const missing = await post(gateway.url('/v1/events'), '{"marker":"nokey"}', { 'content-type': 'application/json' });
    assert.equal(missing.status, 401);
    assert.equal(missing.body.error, 'missing_write_key');
    const unknown = await post(gateway.url('/v1/events'), '{"marker":"badkey"}', json({ authorization: basic('nope') }));
    assert.equal(unknown.status, 403);
    assert.equal(unknown.body.error, 'unknown_write_key');
    assert.equal((await post(gateway.url('/v1/events?writeKey=file-key'), '{"marker":"query-key"}', { 'content-type': 'text/plain' })).status, 202);
    const pixel = await fetch(gateway.url('/v1/pixel.gif?marker=pixel-nokey'));
    assert.equal(pixel.status, 200, 'a pixel without a key still gets its image');
    assert.equal((await fetch(gateway.url('/v1/pixel.gif?writeKey=flag-key&marker=pixel-key'))).status, 200);
  });

  it('refuses a POST without Content-Length or chunked body with 411', async () => {
    const answer = await rawRequest(
      gateway.port,
      `POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: ${basic('flag-key')}\r\n\r\n`,
      '',
    );
    assert.match(answer, /^HTTP\/1\.1 411 /);
    assert.match(answer, /"error":"length_required"/);
  });

  it('refuses headers over --max-header-bytes with 431', async () => {
    const answer = await post(gateway.url('/v1/events'), '{"marker":"big-headers"}', json({ 'x-padding': 'p'.repeat(5000) }));
    assert.equal(answer.status, 431);
    assert.equal(answer.body.error, 'headers_too_large');
  });

  it('limits one client IP with 429 and Retry-After, without touching the others', async () => {
    // Bursts of 60 until one is limited; how many were let through is bounded by the time the
    // bursts took (one second of burst, then 20 per second), however fast or slow they arrived.
    const clientA = json({ 'x-forwarded-for': '198.51.100.1' });
    const answers: Answer[] = [];
    const started = Date.now();
    for (let burst = 0; burst < 20 && !answers.some((a) => a.status === 429); burst++) {
      answers.push(...(await Promise.all(Array.from({ length: 60 }, () => post(gateway.url('/v1/events'), '{"marker":"burst"}', clientA)))));
    }
    const elapsedSeconds = (Date.now() - started) / 1000;
    const limited = answers.filter((a) => a.status === 429);
    const accepted = answers.filter((a) => a.status === 202).length;
    assert.equal(accepted + limited.length, answers.length, 'every answer is 202 or 429');
    assert.ok(limited.length > 0, `one of ${answers.length} requests was limited`);
    assert.ok(accepted <= 20 + 20 * elapsedSeconds, `${accepted} accepted in ${elapsedSeconds} s: at most 20 + 20 per second`);
    assert.equal(limited[0].body.error, 'rate_limited');
    assert.equal(limited[0].headers.get('retry-after'), '1');
    const clientB = await post(gateway.url('/v1/events'), '{"marker":"other-client"}', json({ 'x-forwarded-for': '198.51.100.2' }));
    assert.equal(clientB.status, 202, 'another client is not limited');
  });

  it('ships only what it accepted', async () => {
    await waitUntilShipped(gateway);
    const markers = (await tapStream(gateway.kinesisEndpoint, 'events', 1)).map((e) => e.event.marker);
    for (const refused of ['evil', 'nokey', 'badkey', 'pixel-nokey', 'big-headers']) assert.ok(!markers.includes(refused), `${refused} was not shipped`);
    for (const accepted of ['allowed', 'query-key', 'pixel-key', 'other-client']) assert.ok(markers.includes(accepted), `${accepted} was shipped`);
  });

  it('stops with a clear message when the write-keys file cannot be read', async () => {
    const running = runCli(['serve', '--port', '0', '--admin-port', '0', '--local-kinesis-port', '0', '--write-keys-file', '/nonexistent/keys']);
    assert.equal((await running.exited).code, 1);
    assert.match(running.stderr.join('\n'), /cannot read --write-keys-file \/nonexistent\/keys/);
  });
});
