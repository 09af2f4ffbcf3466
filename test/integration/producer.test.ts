// The producer against a real local Kinesis: aggregates readable by aws-kinesis-agg and inside their
// shard's range, per-key order, resharding while events flow, and the record TTL.

import assert from 'node:assert/strict';
import { DescribeStreamCommand, SplitShardCommand } from '@aws-sdk/client-kinesis';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createKinesisClient } from '../../src/kinesis-client';
import { hashKeyOf } from '../../src/shipper/worker-thread/shard-map';
import { startFaultProxy } from '../support/fault-proxy';
import { referenceDeaggregate } from '../support/kinesis-agg';
import { metricValue, metricsText, sendEvents, waitUntilShipped } from '../support/load';
import { until } from '../support/wait';
import { startGateway, startLocalKinesis, tapStream, type LocalKinesisProcess } from '../support/processes';
import { createStream, readShards, type RawShard } from '../support/read-stream';
import { tempDir } from '../support/temp-dir';

interface UserEvent {
  envelope: { id: string; event: { seq: number; userId?: string } };
  partitionKey: string;
  shard: RawShard;
  sequenceNumber: string;
  subIndex: number;
}

/** Every user record of the stream, de-aggregated by the reference library, with where it was found. */
function userEvents(shards: RawShard[]): UserEvent[] {
  const out: UserEvent[] = [];
  for (const shard of shards) {
    for (const record of shard.records) {
      for (const [subIndex, user] of referenceDeaggregate(record.data, record.partitionKey).entries()) {
        out.push({ envelope: JSON.parse(user.data.toString()), partitionKey: user.partitionKey, shard, sequenceNumber: record.sequenceNumber, subIndex });
      }
    }
  }
  return out;
}

function assertInRange(events: UserEvent[]): void {
  for (const e of events) {
    const hash = hashKeyOf(e.partitionKey);
    assert.ok(
      hash >= e.shard.start && hash <= e.shard.end,
      `user record ${e.partitionKey} lies outside ${e.shard.id}, where a KCL consumer would drop its aggregate`,
    );
  }
}

let kinesis: LocalKinesisProcess;
before(async () => {
  kinesis = await startLocalKinesis('unused', 1);
});
after(async () => {
  await kinesis?.kill();
});

describe('the producer on a local Kinesis', () => {
  it('writes aggregates that aws-kinesis-agg reads back, every user record inside its shard', async () => {
    await createStream(kinesis.endpoint, 'agg', 4);
    const gateway = await startGateway(['--kinesis-endpoint', kinesis.endpoint, '--stream', 'agg']);
    try {
      const acknowledged = await sendEvents(gateway, 5000, { perRequest: 100 });
      const metrics = await waitUntilShipped(gateway);
      const shards = await readShards(kinesis.endpoint, 'agg');
      const events = userEvents(shards);
      assert.deepEqual(
        events.map((e) => e.envelope.event.seq).sort((a, b) => a - b),
        acknowledged.sort((a, b) => a - b),
      );
      const keysPerRecord = new Map<string, Set<string>>();
      for (const e of events) keysPerRecord.set(e.sequenceNumber, (keysPerRecord.get(e.sequenceNumber) ?? new Set()).add(e.partitionKey));
      assert.ok(
        [...keysPerRecord.values()].every((keys) => keys.size === 1),
        'random keys: one key per aggregate, which hashes into its shard',
      );
      const perShard = shards.map((shard) => events.filter((e) => e.shard === shard).length);
      assert.ok(Math.min(...perShard) > 5000 / 4 / 2, `spread over the shards: ${perShard.join(', ')}`);
      assertInRange(events);
      const records = shards.reduce((n, s) => n + s.records.length, 0);
      assert.ok(
        records * 10 < 5000,
        `${records} Kinesis records carried 5000 events; ${shards.map((s) => `${s.id}:${s.records.length}`).join(' ')}\n${metrics
          .split('\n')
          .filter((l) => /^gateway_(events|records|aggregated|batches|shard)/.test(l))
          .join('\n')}`,
      );
      assert.equal(metricValue(metrics, 'gateway_events_shipped_total'), 5000);
      assert.equal(metricValue(metrics, 'gateway_records_shipped_total'), records);
      assert.ok(metricValue(metrics, 'gateway_aggregated_records_shipped_total') > 0);
      assert.equal(metricValue(metrics, 'gateway_delivery_latency_seconds_count'), 5000);
      assert.equal(metricValue(metrics, 'gateway_shard_map_refreshes_total{outcome="ok"}') > 0, true);
    } finally {
      await gateway.kill('SIGINT');
    }
  });

  for (const faulty of [false, true]) {
    it(`with --partition-key field:userId keeps each user on one shard, in order${faulty ? ', also when entries and calls fail' : ''}`, async () => {
      const stream = faulty ? 'users-faulty' : 'users';
      await createStream(kinesis.endpoint, stream, 4);
      const proxy = faulty
        ? await startFaultProxy(kinesis.endpoint, {
            failEntries: 0.3,
            entryErrorCodes: ['ProvisionedThroughputExceededException', 'InternalFailure'],
            failRequests: 0.1,
          })
        : undefined;
      const gateway = await startGateway([
        '--kinesis-endpoint',
        proxy?.endpoint ?? kinesis.endpoint,
        '--stream',
        stream,
        '--partition-key',
        'field:userId',
        '--record-ttl-ms',
        '300000',
      ]);
      try {
        // Sequential requests: the order the gateway received them in is the order to keep.
        await sendEvents(gateway, 2000, { perRequest: 50, concurrency: 1, event: (seq) => (seq % 100 === 99 ? { seq } : { seq, userId: `user-${seq % 7}` }) });
        const metrics = await waitUntilShipped(gateway);
        assert.equal(metricValue(metrics, 'gateway_partition_key_fallbacks_total'), 20, 'events without the field are counted');
        const events = userEvents(await readShards(kinesis.endpoint, stream));
        assertInRange(events);
        for (let user = 0; user < 7; user++) {
          const mine = events.filter((e) => e.envelope.event.userId === `user-${user}`);
          assert.ok(mine.every((e) => e.partitionKey === `user-${user}`));
          assert.equal(new Set(mine.map((e) => e.shard.id)).size, 1, `user-${user} is on one shard`);
          const inStreamOrder = [...mine].sort((a, b) =>
            BigInt(a.sequenceNumber) === BigInt(b.sequenceNumber) ? a.subIndex - b.subIndex : BigInt(a.sequenceNumber) < BigInt(b.sequenceNumber) ? -1 : 1,
          );
          const seqs = inStreamOrder.map((e) => e.envelope.event.seq);
          assert.deepEqual(
            seqs,
            [...seqs].sort((a, b) => a - b),
            `user-${user}'s events are in order`,
          );
        }
        assert.equal(events.length, 2000, 'every event once');
        if (proxy) assert.ok(proxy.counts.entriesFailed > 0 && proxy.counts.requestsFailed > 0, 'faults were injected');
      } finally {
        await gateway.kill('SIGINT');
        await proxy?.close();
      }
    });
  }

  it('keeps aggregates readable and loses nothing when a shard is split while events flow', async () => {
    await createStream(kinesis.endpoint, 'reshard', 2);
    const gateway = await startGateway(['--kinesis-endpoint', kinesis.endpoint, '--stream', 'reshard', '--linger-ms', '10']);
    const client = createKinesisClient({ endpoint: kinesis.endpoint });
    try {
      const eventsDuringSplit = 6000; // those sent after the split are numbered on from here
      const sending = sendEvents(gateway, eventsDuringSplit, { perRequest: 20, concurrency: 2 });
      await until('events are flowing', async () => metricValue(await metricsText(gateway), 'gateway_events_shipped_total') > 0, 30_000, 50);
      const splitAt = (2n ** 128n / 4n).toString(); // the middle of shard 0's range
      await client.send(new SplitShardCommand({ StreamName: 'reshard', ShardToSplit: 'shardId-000000000000', NewStartingHashKey: splitAt }));
      const duringSplit = await sending;
      assert.equal(duringSplit.length, eventsDuringSplit, 'every request was taken while the shard split');
      // A fast machine may have shipped all of those before the split completed: more events once
      // it has, so that the gateway must follow it, whatever the timing.
      await until('the split is complete', async () => {
        const { StreamDescription } = await client.send(new DescribeStreamCommand({ StreamName: 'reshard' }));
        return StreamDescription?.StreamStatus === 'ACTIVE' && StreamDescription.Shards?.length === 4;
      });
      const afterSplit = await sendEvents(gateway, 1000, { firstSeq: eventsDuringSplit, perRequest: 20, concurrency: 2 });
      assert.equal(afterSplit.length, 1000, 'every request was taken after the split');
      const acknowledged = [...duringSplit, ...afterSplit];
      const metrics = await waitUntilShipped(gateway);
      const shards = await readShards(kinesis.endpoint, 'reshard');
      assert.equal(shards.length, 4, 'the parent and its two children');
      // An aggregate sent on the shard map from before the split can land on a child shard with
      // some of its records outside that child's range. A KCL consumer drops such an aggregate;
      // the gateway sees it land off its predicted shard and resends its events regrouped. So
      // every event must be readable from an aggregate wholly inside its shard.
      const events = userEvents(shards);
      const inRange = (e: UserEvent) => {
        const h = hashKeyOf(e.partitionKey);
        return h >= e.shard.start && h <= e.shard.end;
      };
      const byRecord = new Map<string, UserEvent[]>();
      for (const e of events) byRecord.set(`${e.shard.id}/${e.sequenceNumber}`, [...(byRecord.get(`${e.shard.id}/${e.sequenceNumber}`) ?? []), e]);
      const dropped = [...byRecord.values()].filter((record) => !record.every(inRange));
      const readable = [...byRecord.values()].filter((record) => record.every(inRange)).flat();
      const seqs = new Set(readable.map((e) => e.envelope.event.seq));
      assert.deepEqual(
        acknowledged.filter((s) => !seqs.has(s)),
        [],
        'every acknowledged event is readable by a KCL consumer',
      );
      assert.ok(dropped.length <= metricValue(metrics, 'gateway_shard_mismatches_total'), 'every aggregate off its range was detected and resent');
      const childRecords = shards.filter((s) => s.id !== 'shardId-000000000000' && s.id !== 'shardId-000000000001').reduce((n, s) => n + s.records.length, 0);
      assert.ok(childRecords > 0, 'the gateway followed the split and wrote to the children');
      console.log(
        `# resharding: ${dropped.length} aggregates partly off their shard's range (resent), ${readable.length - seqs.size} duplicate events, ${metricValue(metrics, 'gateway_shard_mismatches_total')} records landed off their predicted shard`,
      );
    } finally {
      client.destroy();
      await gateway.kill('SIGINT');
    }
  });

  it('writes events older than the record TTL to the dead-letter file, counted, never dropped', async () => {
    const stalled = await startLocalKinesis('ttl', 1);
    const deadLetterFile = path.join(tempDir('gateway-'), 'dead.ndjson');
    const gateway = await startGateway([
      '--kinesis-endpoint',
      stalled.endpoint,
      '--stream',
      'ttl',
      '--record-ttl-ms',
      '1000',
      '--kinesis-request-timeout-ms',
      '300',
      '--dead-letter-file',
      deadLetterFile,
    ]);
    try {
      stalled.child.kill('SIGSTOP');
      const acknowledged = await sendEvents(gateway, 200);
      const metrics = await waitUntilShipped(gateway, 30_000);
      stalled.child.kill('SIGCONT');
      const dead = readFileSync(deadLetterFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line));
      assert.equal(dead.length, 200, 'Kinesis never answered: every event expired');
      assert.equal(metricValue(metrics, 'gateway_dead_letter_events_total{reason="expired"}'), 200);
      assert.deepEqual(
        dead.map((e) => e.event.seq).sort((a, b) => a - b),
        acknowledged.sort((a, b) => a - b),
      );
      assert.ok(
        gateway.logs.some((l) => /dead-letter file/.test(l.msg) && l.reason === 'expired'),
        'and it is logged',
      );
      await tapStream(stalled.endpoint, 'ttl', 1); // the emulator is answering again
    } finally {
      stalled.child.kill('SIGCONT');
      await gateway.kill('SIGINT');
      await stalled.kill();
    }
  });
});
