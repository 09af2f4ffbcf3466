// The catch-all 500 paths of the public listener: a bug below the request handlers must cost the one
// request a 500 (logged, counted), never the process. The real app on a real port, in this process,
// with a fault injected from the test side: parts that throw as a bug would.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Admission } from '../../src/http/admission';
import { createPublicApp } from '../../src/http/public-app';
import { Readiness } from '../../src/http/readiness';
import { RequestMetrics } from '../../src/http/request-metrics';
import { uws, type us_listen_socket } from '../../src/http/uws';
import { Intake, intakeCounters } from '../../src/intake/intake';
import { StreamAcks } from '../../src/intake/stream-acks';
import { METRICS } from '../../src/metrics/metric-definitions';
import { SharedMetrics } from '../../src/metrics/shared-metrics';
import { createRingBuffer } from '../../src/ring/ring-layout';
import { RingWriter } from '../../src/ring/ring-writer';
import { post } from '../support/processes';

/** A real Intake whose take() fails the way a bug in it would. */
class BrokenIntake extends Intake {
  override take(): void {
    throw new TypeError('injected: intake bug');
  }
}

/** Real admission whose rate check fails the way a bug would: it runs before any body is read. */
class BrokenAdmission extends Admission {
  override checkRate(ip: string, nowMs: number): ReturnType<Admission['checkRate']> {
    if (ip === '203.0.113.66') throw new TypeError('injected: admission bug');
    return super.checkRate(ip, nowMs);
  }
}

const metrics = new SharedMetrics();
const logs: { level: number; msg: string; err?: { message: string } }[] = [];
let socket: us_listen_socket;
let base: string;

before(async () => {
  const ring = new RingWriter(createRingBuffer(64 * 1024), { maxRecords: 100, maxBytes: 64 * 1024, lingerMs: 60_000 }, () => undefined);
  const readiness = new Readiness();
  readiness.phase = 'ready';
  const app = createPublicApp({
    maxBodyBytes: 64 * 1024,
    maxInflatedBytes: 256 * 1024,
    maxInflateRatio: 100,
    trustProxyHops: 1,
    maxEventDepth: 32,
    maxHeaderBytes: 16 * 1024,
    maxUrlBytes: 8 * 1024,
    bodyTimeoutMs: 5000,
    intake: new BrokenIntake({
      ring,
      spool: undefined,
      durability: 'memory',
      acks: new StreamAcks(1000, metrics.histogram(METRICS.ackWait)),
      keyRule: { kind: 'random' },
      counters: intakeCounters(metrics),
    }),
    readiness,
    metrics: new RequestMetrics(metrics),
    admission: new BrokenAdmission({ rateLimitPerIp: 100_000 }),
    log: pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) }),
  });
  socket = await new Promise<us_listen_socket>((resolve, reject) =>
    app.listen('127.0.0.1', 0, (token) => (token ? resolve(token) : reject(new Error('cannot listen')))),
  );
  base = `http://127.0.0.1:${uws.us_socket_local_port(socket)}`;
});
after(() => uws.us_listen_socket_close(socket));

describe('an unexpected error', () => {
  it('while taking events: 500 internal, logged and counted, and the next request is served', async () => {
    const answer = await post(`${base}/v1/events`, '{"a":1}');
    assert.equal(answer.status, 500);
    assert.deepEqual(answer.body, { error: 'internal', message: 'unexpected error; the events were not accepted' });
    assert.ok(logs.some((l) => l.msg === 'unexpected error while taking events' && l.err?.message === 'injected: intake bug'));
    assert.equal(metrics.total(METRICS.eventsRejected), 1);
    assert.equal((await post(`${base}/v1/events`, '{"a":1}')).status, 500, 'still serving');
  });

  it('in a handler before the body: 500 internal and the connection closed', async () => {
    const answer = await fetch(`${base}/v1/events`, {
      method: 'POST',
      body: '{"a":1}',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.66' },
    });
    assert.equal(answer.status, 500);
    assert.equal(answer.headers.get('connection'), 'close');
    assert.deepEqual(await answer.json(), { error: 'internal', message: 'unexpected error; nothing was accepted' });
    assert.ok(logs.some((l) => l.msg === 'unexpected error in a request handler' && l.err?.message === 'injected: admission bug'));
  });

  it('while taking a pixel event: the pixel is still answered, and the error logged and counted', async () => {
    const before = metrics.total(METRICS.eventsRejected);
    const answer = await fetch(`${base}/v1/pixel.gif?e=open`);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('content-type'), 'image/gif');
    assert.equal((await answer.arrayBuffer()).byteLength, 43);
    assert.ok(logs.some((l) => l.msg === 'unexpected error while taking a pixel event'));
    assert.equal(metrics.total(METRICS.eventsRejected), before + 1);
  });
});
