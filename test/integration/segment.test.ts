// The Segment HTTP spec routes with the real @segment/analytics-node client and by hand: every call
// delivered once with its messageId, bad input answered 400, write keys from every place the spec
// puts them, --ip-policy truncate on the stored address, and refused bodies kept in --rejects-file.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Analytics } from '@segment/analytics-node';
import { metricsText, metricValue, waitUntilShipped } from '../support/load';
import { post, startGateway, tapStream, type Envelope, type Gateway } from '../support/processes';
import { until } from '../support/wait';
import { tempDir } from '../support/temp-dir';

const KEY = 'good-key';
const basic = (key: string) => ({ authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}`, 'content-type': 'application/json' });
const dir = tempDir('segment-');
const rejectsFile = path.join(dir, 'rejects.ndjson');
let gateway: Gateway;

before(async () => {
  gateway = await startGateway(['--write-keys', KEY, '--ip-policy', 'truncate', '--rejects-file', rejectsFile, '--max-event-depth', '8']);
});
after(async () => {
  await gateway?.kill('SIGINT');
});

/** The whole stream, once what was accepted has shipped. */
async function stream(): Promise<Envelope[]> {
  await waitUntilShipped(gateway);
  return tapStream(gateway.kinesisEndpoint, 'events', 2);
}

type Callback = (err: unknown, ctx?: { event: { messageId?: string } }) => void;

/** A client whose callbacks collect the delivered messageIds in `sent`, and the errors. */
function client(writeKey: string, sent: string[]): { analytics: Analytics; done: Callback; errors: unknown[] } {
  const analytics = new Analytics({ writeKey, host: gateway.url(''), flushAt: 3, flushInterval: 200, maxRetries: 2 });
  const errors: unknown[] = [];
  return {
    analytics,
    errors,
    done: (err, ctx) => {
      if (err) errors.push(err);
      else sent.push(ctx!.event.messageId!);
    },
  };
}

describe('@segment/analytics-node against the gateway', () => {
  const delivered: string[] = [];

  it('delivers identify, track, page, screen, group and alias calls; the client reports each delivered', async () => {
    const { analytics, done, errors } = client(KEY, delivered);
    const user = { userId: 'user-1' };
    analytics.identify({ ...user, traits: { plan: 'pro' } }, done);
    analytics.track({ ...user, event: 'Order Completed', properties: { total: 12.5 } }, done);
    analytics.page({ ...user, name: 'Home', properties: { path: '/' } }, done);
    analytics.screen({ ...user, name: 'Settings' }, done);
    analytics.group({ ...user, groupId: 'g-1', traits: { size: 3 } }, done);
    analytics.alias({ userId: 'user-1', previousId: 'anon-1' }, done);
    for (let i = 0; i < 20; i++) analytics.track({ ...user, event: 'Tick', properties: { i } }, done);
    await analytics.closeAndFlush({ timeout: 20_000 });
    assert.deepEqual(errors, []);
    assert.equal(delivered.length, 26);
    assert.equal(new Set(delivered).size, 26);
  });

  it("takes the client's error path with a wrong write key, and nothing of it is kept", async () => {
    const refused: string[] = [];
    const { analytics, done, errors } = client('wrong-key', refused);
    analytics.track({ userId: 'u', event: 'Refused' }, done);
    await analytics.closeAndFlush({ timeout: 20_000 });
    assert.equal(refused.length, 0);
    assert.equal(errors.length, 1);
  });

  it('puts every delivered messageId on the stream exactly once, with the type of its call and a truncated address', async () => {
    const envelopes = await stream();
    const fromClient = envelopes.filter((e) => e.path === '/v1/batch' && delivered.includes(e.event.messageId as string));
    assert.deepEqual(fromClient.map((e) => e.event.messageId).sort(), [...delivered].sort());
    const types = new Set(fromClient.map((e) => e.event.type));
    assert.deepEqual([...types].sort(), ['alias', 'group', 'identify', 'page', 'screen', 'track']);
    for (const e of fromClient) {
      assert.equal(e.event.writeKey, undefined, 'the write key is not stored');
      assert.equal(typeof e.event.sentAt, 'string', 'the batch sentAt is merged in');
      assert.match(e.ip, /^(127\.0\.0\.0|::ffff:127\.0\.0\.0)$/);
    }
    assert.ok(!envelopes.some((e) => e.event.event === 'Refused'));
  });
});

describe('Segment routes by hand', () => {
  const text = { 'content-type': 'text/plain' };

  it('takes the short and long forms, with the key in the body, Basic auth or the query', async () => {
    const answers = [
      await post(gateway.url('/v1/t'), JSON.stringify({ writeKey: KEY, event: 'short-t', messageId: 'hand-1', userId: 'u' }), text),
      await post(gateway.url('/v1/track'), JSON.stringify({ event: 'long-track', messageId: 'hand-2', userId: 'u' }), basic(KEY)),
      await post(gateway.url(`/v1/p?writeKey=${KEY}`), JSON.stringify({ name: 'short-p', messageId: 'hand-3', anonymousId: 'a' }), text),
      await post(gateway.url('/v1/i'), JSON.stringify({ writeKey: KEY, traits: {}, messageId: 'hand-4', userId: 'u' }), text),
      await post(
        gateway.url('/v1/b'),
        JSON.stringify({
          writeKey: KEY,
          batch: [
            { type: 'screen', messageId: 'hand-5', name: 's' },
            { type: 'group', groupId: 'g', messageId: 'hand-6' },
          ],
        }),
        text,
      ),
    ];
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body, { success: true });
    }
    const byId = new Map((await stream()).map((e) => [e.event.messageId, e]));
    assert.deepEqual(
      ['hand-1', 'hand-2', 'hand-3', 'hand-4', 'hand-5', 'hand-6'].map((id) => [byId.get(id)?.path, byId.get(id)?.event.type]),
      [
        ['/v1/t', 'track'],
        ['/v1/track', 'track'],
        ['/v1/p', 'page'],
        ['/v1/i', 'identify'],
        ['/v1/b', 'screen'],
        ['/v1/b', 'group'],
      ],
    );
    const metrics = await metricsText(gateway);
    assert.equal(metricValue(metrics, 'gateway_requests_total{route="/v1/t",status="200"}'), 1);
    assert.equal(metricValue(metrics, 'gateway_requests_total{route="/v1/b",status="200"}'), 1);
  });

  const cases: [string, string, string, Record<string, string>, number, string][] = [
    ['no write key', '/v1/t', '{"event":"e"}', { 'content-type': 'text/plain' }, 401, 'missing_write_key'],
    ['an unknown write key in the body', '/v1/t', '{"event":"e","writeKey":"nope"}', { 'content-type': 'text/plain' }, 403, 'unknown_write_key'],
    ['an unknown write key in Basic auth', '/v1/batch', '{"batch":[]}', basic('nope'), 403, 'unknown_write_key'],
    ['a call past 32 KB', '/v1/track', JSON.stringify({ event: 'x'.repeat(33_000) }), basic(KEY), 400, 'segment_too_large'],
    ['a batch without its array', '/v1/batch', '{"calls":[]}', basic(KEY), 400, 'segment_invalid'],
    ['a batch call without a type', '/v1/batch', '{"batch":[{"event":"e"}]}', basic(KEY), 400, 'segment_invalid'],
    ['malformed JSON', '/v1/track', '{"event":', basic(KEY), 400, 'malformed_json'],
    ['NDJSON', '/v1/track', '{}', { ...basic(KEY), 'content-type': 'application/x-ndjson' }, 415, 'unsupported_media_type'],
  ];
  for (const [name, route, body, headers, status, code] of cases) {
    it(`answers ${name} with ${status} ${code}`, async () => {
      const answer = await post(gateway.url(route), body, headers);
      assert.equal(answer.status, status);
      assert.equal(answer.body.error, code);
    });
  }

  it('answers a GET on a call route with 405', async () => {
    const response = await fetch(gateway.url('/v1/t'));
    assert.equal(response.status, 405);
    assert.equal(response.headers.get('allow'), 'POST, OPTIONS');
  });

  it('serves the settings analytics-next loads, pointing back at the gateway; an unknown key is refused', async () => {
    const response = await fetch(gateway.url(`/v1/projects/${KEY}/settings`));
    assert.equal(response.status, 200);
    const settings = (await response.json()) as { integrations: Record<string, unknown>; remotePlugins: unknown[] };
    assert.deepEqual(settings.integrations['Segment.io'], {
      apiKey: KEY,
      apiHost: `127.0.0.1:${gateway.port}/v1`,
      protocol: 'http',
      unbundledIntegrations: [],
      addBundledMetadata: false,
    });
    assert.deepEqual(Object.keys(settings.integrations), ['Segment.io']);
    assert.deepEqual(settings.remotePlugins, []);
    assert.equal((await fetch(gateway.url('/v1/projects/nope/settings'))).status, 403);
    const badEscape = await fetch(gateway.url('/v1/projects/%E0%A4%A/settings'));
    assert.equal(badEscape.status, 403, 'a key that is not valid percent-encoding is an unknown key, not a 500');
    assert.equal(((await badEscape.json()) as { error: string }).error, 'unknown_write_key');
    assert.equal((await fetch(gateway.url(`/v1/projects/${KEY}/other`))).status, 404);
  });

  it('keeps the refused malformed bodies in --rejects-file with reason, route and truncated address; not the bad keys', async () => {
    const body = '{"event":"kept","oops":}';
    assert.equal((await post(gateway.url('/v1/track'), body, basic(KEY))).status, 400);
    let lines: Record<string, unknown>[] = [];
    await until('the rejects file has the body', () => {
      try {
        lines = readFileSync(rejectsFile, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line));
      } catch {
        return false;
      }
      return lines.some((l) => Buffer.from(l.body as string, 'base64').toString() === body);
    });
    const kept = lines.find((l) => Buffer.from(l.body as string, 'base64').toString() === body)!;
    assert.equal(kept.reason, 'malformed_json');
    assert.equal(kept.route, '/v1/track');
    assert.match(kept.ip as string, /^(127\.0\.0\.0|::ffff:127\.0\.0\.0)$/);
    assert.equal(kept.truncated, false);
    assert.ok(!Number.isNaN(Date.parse(kept.time as string)));
    const reasons = new Set(lines.map((l) => l.reason));
    assert.ok(!reasons.has('unknown_write_key') && !reasons.has('missing_write_key'), `no key refusals kept: ${[...reasons]}`);
    const metrics = await metricsText(gateway);
    assert.ok(metricValue(metrics, 'gateway_rejects_file_total{outcome="kept"}') >= 1);
    assert.ok(metricValue(metrics, 'gateway_events_rejected_total{reason="segment_too_large"}') >= 1);
  });
});

describe('--ip-policy and --rejects-file on the other routes', () => {
  it('store the truncated address from /v1/events and the pixel too, and keep a refused /v1/events body', async () => {
    assert.equal((await post(gateway.url(`/v1/events?writeKey=${KEY}`), '{"marker":"events-route"}')).status, 202);
    assert.equal((await fetch(gateway.url(`/v1/pixel.gif?writeKey=${KEY}&marker=pixel-route`))).status, 200);
    const bad = '[{"marker":"kept-events"},"not an object"]';
    assert.equal((await post(gateway.url(`/v1/events?writeKey=${KEY}`), bad)).status, 400);
    const envelopes = (await stream()).filter((e) => e.event.marker === 'events-route' || e.event.marker === 'pixel-route');
    assert.deepEqual(envelopes.map((e) => e.path).sort(), ['/v1/events', '/v1/pixel.gif']);
    for (const e of envelopes) assert.match(e.ip, /^(127\.0\.0\.0|::ffff:127\.0\.0\.0)$/);
    const kept = () =>
      readFileSync(rejectsFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line));
    await until('the refused /v1/events body is kept', () =>
      kept().some((l) => l.route === '/v1/events' && l.reason === 'not_an_object' && Buffer.from(l.body, 'base64').toString() === bad),
    );
  });
});

describe('a rate-limited gateway', () => {
  it('makes analytics-node wait out Retry-After and deliver', async () => {
    const limited = await startGateway(['--rate-limit-per-ip', '1']);
    try {
      // The bucket holds one request a second: this one empties it, so the client's first try gets 429.
      assert.equal((await post(limited.url('/v1/t'), '{"event":"first"}')).status, 200);
      const analytics = new Analytics({ writeKey: 'any', host: limited.url(''), flushAt: 1, maxRetries: 3 });
      const statuses: number[] = [];
      analytics.on('http_response', (response) => statuses.push(response.status));
      let outcome: unknown = 'pending';
      analytics.track({ userId: 'u', event: 'after-429', messageId: 'retried-1' }, (err) => (outcome = err ?? 'delivered'));
      await analytics.closeAndFlush({ timeout: 20_000 });
      assert.equal(outcome, 'delivered');
      assert.equal(statuses[0], 429);
      assert.equal(statuses[statuses.length - 1], 200);
      await waitUntilShipped(limited);
      const events = await tapStream(limited.kinesisEndpoint, 'events', 2);
      assert.deepEqual(events.filter((e) => e.event.messageId === 'retried-1').length, 1);
    } finally {
      await limited.kill('SIGINT');
    }
  });
});
