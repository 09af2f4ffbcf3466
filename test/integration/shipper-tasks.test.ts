// When every shipper slot is busy, the batches that wait are shipped together by the next free
// slot, instead of one by one: a slow Kinesis makes calls larger, not the backlog longer.

import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { startFaultProxy } from '../support/fault-proxy';
import { metricValue, sendEvents, waitUntilShipped } from '../support/load';
import { startGateway, startLocalKinesis, tapStream } from '../support/processes';

describe('shipper tasks', () => {
  it('ship the batches that waited behind slow calls together', async (t: TestContext) => {
    const kinesis = await startLocalKinesis('merge', 1);
    const proxy = await startFaultProxy(kinesis.endpoint, { failEntries: 0, entryErrorCodes: [], failRequests: 0, latencyMs: 1000 });
    // A 2 ms linger publishes a batch every request or two; 8 slots are busy for a second per call.
    const gateway = await startGateway(['--kinesis-endpoint', proxy.endpoint, '--stream', 'merge', '--linger-ms', '2']);
    try {
      const acknowledged = await sendEvents(gateway, 10000, { perRequest: 20, concurrency: 2 });
      assert.equal(acknowledged.length, 10000);
      const metrics = await waitUntilShipped(gateway);
      const batches = metricValue(metrics, 'gateway_batches_shipped_total');
      t.diagnostic(`${batches} ring batches went out in ${proxy.counts.putRecordsCalls} PutRecords calls`);
      assert.ok(batches >= 100, `many batches were published: ${batches}`);
      assert.ok(proxy.counts.putRecordsCalls * 3 <= batches, 'waiting batches were shipped together, not one call each');
      const onStream = new Set((await tapStream(kinesis.endpoint, 'merge')).map((e) => e.event.seq as number));
      assert.deepEqual(
        acknowledged.filter((seq) => !onStream.has(seq)),
        [],
        'every acknowledged event is on the stream',
      );
    } finally {
      await gateway.kill('SIGKILL');
      await proxy.close();
      await kinesis.kill();
    }
  });
});
