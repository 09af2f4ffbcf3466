// The shipper's bound on the bytes in flight: with a backlog in the ring, the tasks handed to the
// workers at once hold at most one full task per worker, however many slots are free. Real parts: the
// Shipper with its piscina workers, a real ring, and a local Kinesis behind a proxy that holds every
// PutRecords call a while (so that the tasks overlap) and counts how many are open at once.

import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventSpans, scanEvents } from '../../src/events/json-scan';
import { Intake, intakeCounters } from '../../src/intake/intake';
import { StreamAcks } from '../../src/intake/stream-acks';
import { createLogger } from '../../src/log';
import { METRICS } from '../../src/metrics/metric-definitions';
import { SharedMetrics } from '../../src/metrics/shared-metrics';
import { createRingBuffer } from '../../src/ring/ring-layout';
import { RingWriter } from '../../src/ring/ring-writer';
import { Shipper } from '../../src/shipper/shipper';
import { startLocalKinesis, tapStream } from '../support/processes';
import { until } from '../support/wait';

const HOLD_MS = 400;

/** Forwards to `target`, holding each PutRecords call HOLD_MS first; counts the calls open at once. */
async function countingProxy(target: string) {
  const upstream = new URL(target);
  const calls = { open: 0, maxOpen: 0, total: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const put = String(req.headers['x-amz-target']).endsWith('.PutRecords');
      if (put) {
        calls.total++;
        calls.maxOpen = Math.max(calls.maxOpen, ++calls.open);
        await sleep(HOLD_MS);
      }
      const body = Buffer.concat(chunks);
      const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } }, (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
        answer.on('end', () => put && calls.open--);
      });
      out.on('error', () => {
        if (put) calls.open--;
        res.destroy();
      });
      out.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('shipper: bytes in flight', () => {
  it('hands the workers at most one full task each at a time, whatever the backlog, and ships all of it', async (t: TestContext) => {
    const stream = 'in-flight';
    const kinesis = await startLocalKinesis(stream, 2);
    const proxy = await countingProxy(kinesis.endpoint);
    const metrics = new SharedMetrics();
    const ringBuffer = createRingBuffer(1024 * 1024);
    const taskBytes = 32 * 1024;
    const workers = 2;
    const writer = new RingWriter(ringBuffer, { maxRecords: 10_000, maxBytes: taskBytes, lingerMs: 20 }, (batch) => shipper.ship(batch));
    let confirmed = 0;
    const shipper = new Shipper({
      workers, batchesPerWorker: 4, ordered: false, maxTaskRecords: 10_000, maxTaskBytes: taskBytes, log: createLogger('error'),
      onConfirmed: (batch, deadLettered) => {
        writer.release(batch);
        intake.settled(batch, deadLettered);
        confirmed += batch.count - deadLettered.length;
      },
      batchesShipped: metrics.counter(METRICS.batchesShipped),
      taskFailures: metrics.counter(METRICS.workerTaskFailures),
      workerRestarts: metrics.counter(METRICS.workerRestarts),
      workerData: {
        ring: ringBuffer, metrics: metrics.buffer, kinesis: { endpoint: proxy.endpoint, requestTimeoutMs: 10_000 }, stream, logLevel: 'error', workers,
        aggregationMaxBytes: 51_200, rateLimitPercent: 100, recordTtlMs: Number.POSITIVE_INFINITY,
        deadLetterFile: path.join(mkdtempSync(path.join(os.tmpdir(), 'in-flight-')), 'dead-letter.ndjson'), ordered: false,
      },
    });
    const intake = new Intake({
      ring: writer, spool: undefined, durability: 'memory', acks: new StreamAcks(10_000, metrics.histogram(METRICS.ackWait)), keyRule: { kind: 'random' }, counters: intakeCounters(metrics),
    });
    try {
      // A backlog of about 16 full batches at once (a spool read back after an outage looks like this):
      // with 8 slots free, each batch would be a task of its own.
      const spans = new EventSpans();
      const events = 1600;
      for (let seq = 0; seq < events; seq++) {
        const body = Buffer.from(JSON.stringify({ seq, pad: 'x'.repeat(200) }));
        scanEvents(body, 'json', 32, spans);
        intake.take(body, spans, { receivedAt: Date.now(), ip: '198.51.100.1', userAgent: 'test', path: '/v1/events' }, false, () => undefined);
      }
      writer.closeBatch();
      await until(`every event is confirmed (${confirmed} of ${events})`, () => confirmed === events, 120_000);
      t.diagnostic(`${proxy.calls.total} PutRecords calls, at most ${proxy.calls.maxOpen} open at once`);
      assert.ok(proxy.calls.total >= 8, `the backlog took several calls (${proxy.calls.total})`);
      assert.ok(proxy.calls.maxOpen <= workers, `at most one full task per worker was in flight (${proxy.calls.maxOpen} calls open at once)`);
      assert.equal(proxy.calls.maxOpen, workers, 'and every worker had one');
      const seqs = new Set((await tapStream(kinesis.endpoint, stream)).map((e) => e.event.seq as number));
      assert.equal(seqs.size, events, 'every event is on the stream');
    } finally {
      await shipper.close();
      await proxy.close();
      await kinesis.kill();
    }
  });
});
