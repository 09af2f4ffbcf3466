// The shipper's bound on the ring bytes in flight (in-flight-bound.ts), with a backlog in the ring:
// a fast Kinesis gets one task per worker at a time (the floor; tasks here are under its 1.5 MiB),
// however many slots are free; a slow one gets more, once its latency is seen. Real parts: the
// Shipper with its piscina workers, a real ring, and a local Kinesis of one shard behind a proxy
// that holds every PutRecords call a while (so that calls overlap) and counts how many are open at once.

import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
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
import { Shipper } from '../../src/shipper/main-thread/shipper';
import { startLocalKinesis, tapStream } from '../support/processes';
import { until } from '../support/wait';
import { tempDir } from '../support/temp-dir';

/** Forwards to `target`, holding each PutRecords call `holdMs` first; counts the calls open at once. */
async function countingProxy(target: string, holdMs: number) {
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
        await sleep(holdMs);
      }
      const body = Buffer.concat(chunks);
      const out = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
        (answer) => {
          res.writeHead(answer.statusCode!, answer.headers);
          answer.pipe(res);
          answer.on('end', () => put && calls.open--);
        },
      );
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

/** Four full tasks per worker are one second of a worker's share of the shard (1 MiB/s over 2 workers): pacing alone would let them all go at once. */
const TASK_BYTES = 128 * 1024;
const WORKERS = 2;
const SLOTS = WORKERS * 4;

/** Ships a backlog of about `tasks` full tasks through a Shipper; resolves with the calls the proxy saw. */
async function shipBacklog(t: TestContext, stream: string, holdMs: number, tasks: number) {
  const kinesis = await startLocalKinesis(stream, 1);
  const proxy = await countingProxy(kinesis.endpoint, holdMs);
  const metrics = new SharedMetrics();
  const ringBuffer = createRingBuffer(16 * 1024 * 1024);
  const writer = new RingWriter(ringBuffer, { maxRecords: 10_000, maxBytes: TASK_BYTES, lingerMs: 20 }, (batch) => shipper.ship(batch));
  let confirmed = 0;
  const shipper = new Shipper({
    workers: WORKERS,
    batchesPerWorker: SLOTS / WORKERS,
    ordered: false,
    maxTaskRecords: 10_000,
    maxTaskBytes: TASK_BYTES,
    log: createLogger('error'),
    onConfirmed: (batch, deadLettered) => {
      writer.release(batch);
      intake.settled(batch, deadLettered);
      confirmed += batch.count - deadLettered.length;
    },
    batchesShipped: metrics.counter(METRICS.batchesShipped),
    taskFailures: metrics.counter(METRICS.workerTaskFailures),
    workerRestarts: metrics.counter(METRICS.workerRestarts),
    workerData: {
      ring: ringBuffer,
      metrics: metrics.buffer,
      kinesis: { endpoint: proxy.endpoint, requestTimeoutMs: 10_000 },
      stream,
      logLevel: 'error',
      workers: WORKERS,
      aggregationMaxBytes: 51_200,
      rateLimitPercent: 100,
      recordTtlMs: Number.POSITIVE_INFINITY,
      deadLetterFile: path.join(tempDir('in-flight-'), 'dead-letter.ndjson'),
      ordered: false,
    },
  });
  const intake = new Intake({
    ring: writer,
    spool: undefined,
    durability: 'memory',
    acks: new StreamAcks(10_000, metrics.histogram(METRICS.ackWait)),
    keyRule: { kind: 'random' },
    counters: intakeCounters(metrics),
  });
  try {
    // A backlog of full batches at once (a spool read back after an outage looks like this): with
    // every slot free, each batch would be a task of its own.
    const spans = new EventSpans();
    const events = Math.round((tasks * TASK_BYTES) / 256);
    for (let seq = 0; seq < events; seq++) {
      const body = Buffer.from(JSON.stringify({ seq, pad: 'x'.repeat(100) }));
      scanEvents(body, 'json', 32, spans);
      intake.take(body, spans, { receivedAt: Date.now(), ip: '198.51.100.1', userAgent: 'test', path: '/v1/events' }, false, { onAnswer: () => undefined });
    }
    writer.closeBatch();
    await until(`every event is confirmed (${confirmed} of ${events})`, () => confirmed === events, 120_000);
    t.diagnostic(`${proxy.calls.total} PutRecords calls held ${holdMs} ms, at most ${proxy.calls.maxOpen} open at once`);
    const seqs = new Set((await tapStream(kinesis.endpoint, stream)).map((e) => e.event.seq as number));
    assert.equal(seqs.size, events, 'every event is on the stream');
    return proxy.calls;
  } finally {
    await shipper.close();
    await proxy.close();
    await kinesis.kill();
  }
}

describe('shipper: ring bytes in flight', () => {
  it('a fast Kinesis of one shard: one full task per worker at a time, whatever the backlog', async (t: TestContext) => {
    // 1 shard × 1 MiB/s × 0.25 s (the held calls' bucket, or a lower one) is at most the floor: two full tasks.
    const calls = await shipBacklog(t, 'in-flight-fast', 100, 12);
    assert.ok(calls.total >= 8, `the backlog took several calls (${calls.total})`);
    assert.ok(calls.maxOpen <= WORKERS, `at most one full task per worker was in flight (${calls.maxOpen} calls open at once)`);
    assert.equal(calls.maxOpen, WORKERS, 'and every worker had one');
  });

  it('a slow Kinesis: more tasks in flight once its latency is seen, up to every slot', async (t: TestContext) => {
    // 1 shard × 1 MiB/s × 2.5 s (the bucket of 2 s calls): 2.5 MiB, a full task for every slot.
    const calls = await shipBacklog(t, 'in-flight-slow', 2000, 16);
    assert.ok(calls.maxOpen > WORKERS, `more than one task per worker was in flight (${calls.maxOpen} calls open at once)`);
  });
});
