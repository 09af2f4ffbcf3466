// Injected Kinesis faults, one at a time, through a proxy in front of a real local Kinesis. For each:
// send a known set of events, read the stream back: every acknowledged event is there. Duplicates
// are allowed (at-least-once) and reported.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type Faults } from '../support/fault-proxy';
import { metricValue, sendEvents, waitUntilShipped } from '../support/load';
import { startGateway, startLocalKinesis, tapStream, type LocalKinesisProcess } from '../support/processes';
import { createStream } from '../support/read-stream';

let kinesis: LocalKinesisProcess;
before(async () => {
  kinesis = await startLocalKinesis('unused', 1);
});
after(async () => {
  await kinesis?.kill();
});

const none: Faults = { failEntries: 0, entryErrorCodes: [], failRequests: 0 };

const scenarios: {
  name: string;
  faults: Faults;
  during?: (faults: Faults) => void;
  expect: (metrics: string, counts: { resets: number; requestsFailed: number; entriesFailed: number }) => void;
}[] = [
  {
    name: '300 ms of latency on every PutRecords',
    faults: { ...none, latencyMs: 300 },
    expect: (metrics) =>
      assert.ok(metricValue(metrics, 'gateway_put_records_duration_seconds_sum') / metricValue(metrics, 'gateway_put_records_duration_seconds_count') >= 0.3),
  },
  {
    name: '503 on 40% of calls',
    faults: { ...none, failRequests: 0.4, failStatus: 503 },
    expect: (metrics, counts) => assert.equal(metricValue(metrics, 'gateway_put_records_requests_total{outcome="error"}'), counts.requestsFailed),
  },
  {
    name: 'connections reset before Kinesis sees the call (30%)',
    faults: { ...none, resetShare: 0.3 },
    expect: (_metrics, counts) => assert.ok(counts.resets > 0),
  },
  {
    name: 'answers lost after Kinesis stored the records (30%)',
    faults: { ...none, loseAnswerShare: 0.3 },
    expect: (_metrics, counts) => assert.ok(counts.resets > 0),
  },
  {
    name: 'Kinesis down for 3 s, then back',
    faults: { ...none },
    during: (faults) => (faults.downUntil = Date.now() + 3000),
    expect: (metrics, counts) => {
      assert.ok(counts.resets > 0);
      assert.ok(metricValue(metrics, 'gateway_put_records_retries_total') > 0);
    },
  },
  {
    name: 'throttling: 50% of entries refused with ProvisionedThroughputExceededException',
    faults: { ...none, failEntries: 0.5, entryErrorCodes: ['ProvisionedThroughputExceededException'] },
    expect: (metrics, counts) => {
      const throttles = metrics.split('\n').filter((l) => l.startsWith('gateway_throttles_total{shard="shardId-'));
      assert.ok(throttles.length >= 2, 'throttles are counted per shard');
      assert.equal(
        throttles.reduce((n, l) => n + Number(l.split(' ')[1]), 0),
        counts.entriesFailed,
      );
    },
  },
];

describe('injected Kinesis faults', () => {
  scenarios.forEach((scenario, i) => {
    it(`loses no acknowledged event: ${scenario.name}`, async (t) => {
      const stream = `faults-${i}`;
      await createStream(kinesis.endpoint, stream, 2);
      const proxy = await startFaultProxy(kinesis.endpoint, scenario.faults, 11 + i);
      const gateway = await startGateway([
        '--kinesis-endpoint',
        proxy.endpoint,
        '--stream',
        stream,
        '--linger-ms',
        '10',
        '--kinesis-request-timeout-ms',
        '2000',
        '--record-ttl-ms',
        '300000',
      ]);
      try {
        scenario.during?.(proxy.faults);
        const acknowledged = await sendEvents(gateway, 2000, { perRequest: 10, concurrency: 4 });
        assert.equal(acknowledged.length, 2000, 'the gateway kept answering 202');
        const metrics = await waitUntilShipped(gateway, 120_000);
        const seqs = (await tapStream(kinesis.endpoint, stream, 1)).map((e) => e.event.seq as number);
        const distinct = new Set(seqs);
        assert.deepEqual(
          acknowledged.filter((s) => !distinct.has(s)),
          [],
          'every acknowledged event is on the stream',
        );
        t.diagnostic(`${scenario.name}: ${seqs.length - distinct.size} duplicates; proxy ${JSON.stringify(proxy.counts)}`);
        scenario.expect(metrics, proxy.counts);
      } finally {
        await gateway.kill('SIGINT');
        await proxy.close();
      }
    });
  });
});
