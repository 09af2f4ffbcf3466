// Aggregation on one thread: our record builder against aws-kinesis-agg's RecordAggregator at the
// same 50 KiB limit, on 200-byte events, in both key modes:
// - random (the default): our events carry no key and are dealt over the shards; theirs all get
//   the one key ours uses for the shard, so both write one key table entry per aggregate;
// - field: every event has its own key; ours also hashes each with MD5 to predict its shard.

import { randomUUID } from 'node:crypto';
import { buildRecords, type PendingEvent } from '../src/shipper/worker-thread/aggregator';
import { ShardMap } from '../src/shipper/worker-thread/shard-map';

const MAX_BYTES = 50 * 1024;

interface Aggregator {
  calculateUserRecordSize(record: object): number;
  addUserRecord(record: object): void;
  build(): { data: Buffer };
  totalBytes: number;
  length(): number;
}
const { RecordAggregator } = require('aws-kinesis-agg/lib/kpl-agg') as { RecordAggregator: new () => Aggregator };

export interface AggregationRun {
  mode: 'random' | 'field';
  events: number;
  oursEventsPerS: number;
  theirsEventsPerS: number;
  ratio: number;
  eventsPerRecord: number;
}

function makeEvents(count: number, keyed: boolean): PendingEvent[] {
  const data = Buffer.from(JSON.stringify({ type: 'page_view', url: 'https://example.com/p/1', pad: '' }).padEnd(200, ' '));
  return Array.from({ length: count }, () => ({ partitionKey: keyed ? randomUUID() : '', data, receivedAt: 0 }));
}

function ours(events: PendingEvent[], map: ShardMap): { seconds: number; records: number } {
  for (const e of events) e.hashKey = undefined;
  const started = process.hrtime.bigint();
  let records = 0;
  // In slices the size of a full ring batch, as the shipper sees them.
  for (let i = 0; i < events.length; i += 16_000) records += buildRecords(events.slice(i, i + 16_000), map, MAX_BYTES).length;
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, records };
}

function theirs(events: PendingEvent[], keylessKey: string): { seconds: number; records: number } {
  const started = process.hrtime.bigint();
  const aggregator = new RecordAggregator();
  let records = 0;
  for (const e of events) {
    const record = { partitionKey: e.partitionKey || keylessKey, data: e.data };
    if (aggregator.length() > 0 && aggregator.totalBytes + aggregator.calculateUserRecordSize(record) > MAX_BYTES) {
      aggregator.build();
      records++;
    }
    aggregator.addUserRecord(record);
  }
  if (aggregator.length() > 0) {
    aggregator.build();
    records++;
  }
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, records };
}

export function runAggregation(count: number, mode: 'random' | 'field'): AggregationRun {
  const events = makeEvents(count, mode === 'field');
  const map = new ShardMap([{ id: 'shardId-000000000000', startingHashKey: 0n, endingHashKey: 2n ** 128n - 1n }]);
  const keylessKey = map.spreadTargets()[0].key;
  ours(events.slice(0, 20_000), map); // warm up both
  theirs(events.slice(0, 20_000), keylessKey);
  const a = ours(events, map);
  const b = theirs(events, keylessKey);
  return {
    mode,
    events: count,
    oursEventsPerS: count / a.seconds,
    theirsEventsPerS: count / b.seconds,
    ratio: b.seconds / a.seconds,
    eventsPerRecord: count / a.records,
  };
}
