// PutRecords partial failures and failed calls, injected by a proxy in front of a real local Kinesis.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { startFaultProxy } from '../support/fault-proxy';
import { metricsText } from '../support/load';
import { post, startGateway, startLocalKinesis, tapStream } from '../support/processes';

function metric(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line, `${series} is exported`);
  return Number(line.split(' ')[1]);
}

describe('retries', () => {
  for (const aggregation of ['on', 'off']) {
    it(`resend exactly the failed entries and failed calls, aggregation ${aggregation}: every event once, none lost, none duplicated`, async () => {
      const kinesis = await startLocalKinesis('retry', 2);
      const proxy = await startFaultProxy(kinesis.endpoint, {
        failEntries: 0.3,
        entryErrorCodes: ['ProvisionedThroughputExceededException', 'InternalFailure'],
        failRequests: 0.1,
      });
      // Enough slots that batches rarely wait to be shipped together: many calls, so many chances to fail.
      const gateway = await startGateway([
        '--kinesis-endpoint',
        proxy.endpoint,
        '--stream',
        'retry',
        '--linger-ms',
        '10',
        '--aggregation',
        aggregation,
        '--record-ttl-ms',
        '300000',
        '--batches-per-worker',
        '64',
      ]);
      try {
        let seq = 0;
        for (let request = 0; request < 100; request++) {
          const body = Array.from({ length: 20 }, () => JSON.stringify({ seq: seq++ })).join('\n');
          assert.equal((await post(gateway.url('/v1/events'), body, { 'content-type': 'application/x-ndjson' })).status, 202);
        }
        let metrics = '';
        for (let waited = 0; waited < 30_000; waited += 100) {
          metrics = await metricsText(gateway);
          if (metric(metrics, 'gateway_ring_used_bytes') === 0) break;
          await sleep(100);
        }
        assert.equal(metric(metrics, 'gateway_ring_used_bytes'), 0, 'everything was confirmed');

        const seqs = (await tapStream(kinesis.endpoint, 'retry')).map((e) => e.event.seq as number);
        const distinct = new Set(seqs);
        assert.equal(distinct.size, 2000, 'every event is on the stream');
        assert.equal(seqs.length, 2000, `no duplicates (${seqs.length - distinct.size} found)`);

        assert.ok(proxy.counts.entriesFailed > (aggregation === 'on' ? 10 : 200), `${proxy.counts.entriesFailed} entries were failed`);
        assert.ok(proxy.counts.requestsFailed > 0, `${proxy.counts.requestsFailed} calls were failed`);
        const failedByCode =
          metric(metrics, 'gateway_records_failed_total{code="ProvisionedThroughputExceededException"}') +
          metric(metrics, 'gateway_records_failed_total{code="InternalFailure"}');
        const context = `proxy ${JSON.stringify(proxy.counts)}\n${metrics
          .split('\n')
          .filter((l) => l.startsWith('gateway_') && !l.includes('_bucket'))
          .join('\n')}`;
        assert.equal(failedByCode, proxy.counts.entriesFailed, `each failed entry is counted by its code\n${context}`);
        assert.equal(metric(metrics, 'gateway_put_records_requests_total{outcome="error"}'), proxy.counts.requestsFailed, `failed calls\n${context}`);
        assert.equal(metric(metrics, 'gateway_events_shipped_total'), 2000, `events shipped\n${context}`);
        const records = metric(metrics, 'gateway_records_shipped_total');
        if (aggregation === 'on') assert.ok(records * 2 < 2000, `${records} records carried 2000 events: aggregated`);
        else assert.equal(records, 2000, `one record per event\n${context}`);
        assert.ok(metric(metrics, 'gateway_put_records_retries_total') > 0);
      } finally {
        await gateway.kill('SIGINT');
        await proxy.close();
        await kinesis.kill();
      }
    });
  }
});
