// The request head rules the gateway enforces itself, identically on both uWS builds: differing
// duplicate Content-Length (RFC 9112 §6.3) gets 400 and a closed connection; a request target past
// --max-url-bytes gets 414; heads up to the gateway's own limits reach the gateway (the official
// build would answer a bare 431 past 4 KiB on its own).

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { metricsText, waitUntilShipped } from '../support/load';
import { post, startGateway, tapStream, type Gateway } from '../support/processes';

const ANSWER_DEADLINE_MS = 5_000;
/** Long enough for an answer on loopback, far shorter than either build's idle close (10 s, 30 s). */
const UNANSWERED_AFTER_MS = 2_000;

interface RawAnswer {
  readonly text: string;
  /** The server closed the connection (we never end our side). */
  readonly closedByServer: boolean;
}

/** Writes a raw request, keeps the socket open, and reads until the server closes or the deadline. */
function send(port: number, request: string, deadlineMs = ANSWER_DEADLINE_MS): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString(), closedByServer: false });
    }, deadlineMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString(), closedByServer: true });
    });
    socket.on('error', reject);
  });
}

function statusOf(answer: RawAnswer): number {
  return Number(/^HTTP\/1\.1 (\d{3}) /.exec(answer.text)?.[1]);
}

function bodyOf(answer: RawAnswer): Record<string, unknown> {
  return JSON.parse(answer.text.slice(answer.text.indexOf('\r\n\r\n') + 4));
}

describe('request head rules, on either uWS build', () => {
  let gateway: Gateway;
  before(async () => {
    gateway = await startGateway(['--stream', 'framing', '--max-url-bytes', '2048', '--max-header-bytes', '32k']);
  });
  after(() => gateway.kill('SIGINT'));

  it('answers differing duplicate Content-Length with 400 and closes the connection, taking nothing', async () => {
    const body = '{"marker":"smuggled"}';
    const answer = await send(
      gateway.port,
      `POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nContent-Length: 5\r\n\r\n${body}`,
    );
    assert.equal(statusOf(answer), 400, answer.text);
    assert.equal(bodyOf(answer).error, 'conflicting_content_length');
    assert.ok(answer.closedByServer, 'the connection is closed: its framing cannot be trusted');
    assert.match(await metricsText(gateway), /^gateway_events_rejected_total\{reason="conflicting_content_length"\} 1$/m);
  });

  it('refuses differing Content-Length on every route, health checks included', async () => {
    const answer = await send(gateway.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 1\r\n\r\n');
    assert.equal(statusOf(answer), 400, answer.text);
    assert.equal(bodyOf(answer).error, 'conflicting_content_length');
    assert.ok(answer.closedByServer);
  });

  it('takes a Content-Length repeated with the same value', async () => {
    const body = '{"marker":"same-length-twice"}';
    const answer = await send(
      gateway.port,
      `POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    assert.equal(statusOf(answer), 202, answer.text);
  });

  it('answers a request target past --max-url-bytes with 414 and closes, on POST and on the pixel', async () => {
    const longQuery = `marker=too-long&pad=${'p'.repeat(2048)}`;
    const pixel = await send(gateway.port, `GET /v1/pixel.gif?${longQuery} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.equal(statusOf(pixel), 414, pixel.text);
    assert.equal(bodyOf(pixel).error, 'uri_too_long');
    assert.match(String(bodyOf(pixel).message), /more than the limit of 2048/);
    assert.ok(pixel.closedByServer);
    const events = await post(gateway.url(`/v1/events?${longQuery}`), '{"marker":"too-long-post"}');
    assert.equal(events.status, 414);
    assert.equal(events.body.error, 'uri_too_long');
  });

  it('measures the whole path, also one that only starts with a route (uWS routes it elsewhere)', async () => {
    const longPath = `/v1/events/${'p'.repeat(2048)}`;
    const answer = await send(gateway.port, `POST ${longPath} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`);
    assert.equal(statusOf(answer), 414, answer.text);
    assert.match(String(bodyOf(answer).message), new RegExp(`target has ${longPath.length} bytes`));
    const trailingSlash = await post(gateway.url('/v1/events/'), '{"marker":"trailing-slash"}');
    assert.equal(trailingSlash.status, 404, 'only the exact path is the events route');
  });

  it('takes a target just inside the limit, and headers far past 4 KiB within --max-header-bytes', async () => {
    const prefix = '/v1/pixel.gif?marker=at-limit&pad=';
    const atLimit = await fetch(gateway.url(prefix + 'p'.repeat(2048 - prefix.length)));
    assert.equal(atLimit.status, 200);
    const bigHeaders = await post(gateway.url('/v1/events'), '{"marker":"big-headers"}', {
      'content-type': 'application/json',
      'x-padding': 'h'.repeat(24 * 1024),
    });
    assert.equal(bigHeaders.status, 202, JSON.stringify(bigHeaders.body));
    const tooBig = await post(gateway.url('/v1/events'), '{"marker":"too-big-headers"}', {
      'content-type': 'application/json',
      'x-padding': 'h'.repeat(33 * 1024),
    });
    assert.equal(tooBig.status, 431);
    assert.equal(tooBig.body.error, 'headers_too_large');
  });

  // These never reach a handler: uWS's own parser refuses them, and only the official build answers.
  // The docs (docs/runtime.md) state this difference; this keeps them true across uWS upgrades.
  it('leaves malformed framing to the parser: the official build answers 400 and closes, the legacy one never answers', async () => {
    const official = (gateway.logs[0].uws as { kind: string }).kind === 'official';
    const malformed = {
      'an obs-fold header line': 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n',
      'a NUL in a header value': 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n',
      'no Host header': 'GET /healthz HTTP/1.1\r\n\r\n',
    };
    for (const [what, request] of Object.entries(malformed)) {
      const answer = await send(gateway.port, request, UNANSWERED_AFTER_MS);
      if (official) {
        assert.equal(statusOf(answer), 400, `${what}: ${answer.text}`);
        assert.ok(answer.closedByServer, what);
      } else {
        assert.equal(answer.text, '', `${what}: no answer on the legacy build`);
        assert.ok(!answer.closedByServer, `${what}: left open until the idle close`);
      }
    }
  });

  it('delivered exactly the events it took', async () => {
    await waitUntilShipped(gateway);
    const markers = (await tapStream(gateway.kinesisEndpoint, 'framing')).map((e) => e.event.marker).sort();
    assert.deepEqual(markers, ['at-limit', 'big-headers', 'same-length-twice']);
  });
});
