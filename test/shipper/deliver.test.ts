// deliver() against a local Kinesis behind the fault proxy: what it gives up it returns, as the
// very data views it was handed, and everything else is on the stream.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { createKinesisClient } from '../../src/kinesis-client';
import type { PendingEvent } from '../../src/shipper/worker-thread/aggregator';
import { deliver, type DeliveryTarget, type ShipperCounters } from '../../src/shipper/worker-thread/put-records';
import { ShardMapCache } from '../../src/shipper/worker-thread/shard-map-cache';
import { ShardPacer } from '../../src/shipper/worker-thread/shard-pacer';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy';
import { referenceDeaggregate } from '../support/kinesis-agg';
import { startLocalKinesis, type LocalKinesisProcess } from '../support/processes';
import { createStream, readShards } from '../support/read-stream';

const NO_COUNTERS: ShipperCounters = {
  putSucceeded: () => undefined,
  putFailed: () => undefined,
  recordFailed: () => undefined,
  retried: () => undefined,
  confirmed: () => undefined,
  throttled: () => undefined,
  shardMismatch: () => undefined,
};

let kinesis: LocalKinesisProcess;
let proxy: FaultProxy;
before(async () => {
  kinesis = await startLocalKinesis('deliver-first', 2);
  proxy = await startFaultProxy(kinesis.endpoint, { failEntries: 0, entryErrorCodes: [], failRequests: 0 });
});
after(async () => {
  await proxy?.close();
  await kinesis?.kill();
});

/** Half keyed, half keyless (dealt over the shards under spread keys, in copied event objects). */
function events(count: number, receivedAt = Date.now()): PendingEvent[] {
  const key = (seq: number) => (seq % 2 ? `user-${seq % 7}` : '');
  return Array.from({ length: count }, (_, seq) => ({ partitionKey: key(seq), data: Buffer.from(JSON.stringify({ seq })), receivedAt }));
}

function target(stream: string, options: { ordered: boolean; recordTtlMs?: number }): DeliveryTarget {
  const client = createKinesisClient({ endpoint: proxy.endpoint });
  return {
    client,
    stream,
    counters: NO_COUNTERS,
    shardMaps: new ShardMapCache(client, stream, pino({ level: 'silent' }), { refreshed: () => undefined }),
    pacer: new ShardPacer(1),
    aggregationMaxBytes: 300, // small aggregates: many entries for the proxy to refuse
    recordTtlMs: options.recordTtlMs ?? Number.POSITIVE_INFINITY,
    ordered: options.ordered,
  };
}

async function seqsOnStream(stream: string): Promise<number[]> {
  const seqs: number[] = [];
  for (const shard of await readShards(kinesis.endpoint, stream)) {
    for (const record of shard.records) {
      for (const user of referenceDeaggregate(record.data, record.partitionKey)) seqs.push(JSON.parse(user.data.toString()).seq);
    }
  }
  return seqs.sort((a, b) => a - b);
}

const seqOf = (event: PendingEvent): number => JSON.parse(Buffer.from(event.data).toString()).seq;

for (const ordered of [false, true]) {
  describe(`deliver (${ordered ? 'ordered' : 'unordered'})`, () => {
    it('returns the events Kinesis refused for good, as the data views it was handed; the rest are on the stream', async () => {
      const stream = `refused-${ordered}`;
      await createStream(kinesis.endpoint, stream, 2);
      Object.assign(proxy.faults, { failEntries: 0.3, entryErrorCodes: ['KMSAccessDeniedException'] });
      const failedBefore = proxy.counts.entriesFailed;
      const sent = events(300);
      const delivery = target(stream, { ordered });
      try {
        const givenUp = await deliver(sent, delivery);
        assert.ok(proxy.counts.entriesFailed > failedBefore, 'the proxy refused entries');
        assert.ok(givenUp.length > 0, 'and deliver returned them');
        assert.deepEqual([...new Set(givenUp.map((g) => g.reason))], ['KMSAccessDeniedException']);
        const handed = new Set(sent.map((e) => e.data));
        const refused = givenUp.flatMap((g) => g.events);
        assert.ok(
          refused.every((e) => handed.has(e.data)),
          'every given-up event carries a data view deliver was handed',
        );
        const refusedSeqs = refused.map(seqOf).sort((a, b) => a - b);
        const confirmed = await seqsOnStream(stream);
        assert.deepEqual(
          confirmed.filter((seq) => refusedSeqs.includes(seq)),
          [],
          'nothing given up is on the stream',
        );
        assert.deepEqual(
          [...confirmed, ...refusedSeqs].sort((a, b) => a - b),
          sent.map(seqOf),
          'and every other event is, once',
        );
      } finally {
        Object.assign(proxy.faults, { failEntries: 0, entryErrorCodes: [] });
        delivery.client.destroy();
      }
    });

    it('returns the events older than the TTL as expired, without sending them', async () => {
      const stream = `expired-${ordered}`;
      await createStream(kinesis.endpoint, stream, 2);
      const callsBefore = proxy.counts.putRecordsCalls;
      const sent = events(50, Date.now() - 10_000);
      const delivery = target(stream, { ordered, recordTtlMs: 5000 });
      try {
        const givenUp = await deliver(sent, delivery);
        assert.deepEqual([...new Set(givenUp.map((g) => g.reason))], ['expired']);
        assert.deepEqual(
          givenUp
            .flatMap((g) => g.events)
            .map(seqOf)
            .sort((a, b) => a - b),
          sent.map(seqOf),
        );
        assert.equal(proxy.counts.putRecordsCalls, callsBefore, 'no PutRecords call');
        assert.deepEqual(await seqsOnStream(stream), []);
      } finally {
        delivery.client.destroy();
      }
    });
  });
}
