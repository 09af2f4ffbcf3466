// Reads every shard of a stream and writes one event envelope per line (NDJSON), de-aggregating
// KPL aggregated records.

import {
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  ListShardsCommand,
  type KinesisClient,
  type ShardIteratorType,
} from '@aws-sdk/client-kinesis';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TapConfig } from '../config';
import { createKinesisClient } from '../kinesis-client';
import { deaggregate } from '../kpl/aggregated-record';

const IDLE_POLL_MS = 200;
const SHARD_REFRESH_MS = 5000;

interface ShardCursor {
  iterator: string | undefined;
  lastSequence: string | undefined;
  closed: boolean;
}

async function listShardIds(client: KinesisClient, stream: string): Promise<string[]> {
  const ids: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(new ListShardsCommand(nextToken ? { NextToken: nextToken } : { StreamName: stream }));
    for (const shard of page.Shards ?? []) ids.push(shard.ShardId!);
    nextToken = page.NextToken;
  } while (nextToken);
  return ids;
}

async function iteratorFor(client: KinesisClient, stream: string, shardId: string, cursor: ShardCursor, start: ShardIteratorType): Promise<string | undefined> {
  const type: ShardIteratorType = cursor.lastSequence ? 'AFTER_SEQUENCE_NUMBER' : start;
  const answer = await client.send(
    new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ShardIteratorType: type, StartingSequenceNumber: cursor.lastSequence }),
  );
  return answer.ShardIterator;
}

function write(out: NodeJS.WritableStream, text: string): Promise<void> {
  return out.write(text) ? Promise.resolve() : new Promise((resolve) => out.once('drain', () => resolve()));
}

export async function tap(config: TapConfig, out: NodeJS.WritableStream, signal?: AbortSignal): Promise<void> {
  const client = createKinesisClient({ endpoint: config.endpoint, region: config.region, maxAttempts: 5 });
  const cursors = new Map<string, ShardCursor>();
  const firstStart: ShardIteratorType = config.from === 'latest' ? 'LATEST' : 'TRIM_HORIZON';
  let lastRecordAt = Date.now();
  let lastShardRefresh = 0;
  try {
    while (!signal?.aborted) {
      if (Date.now() - lastShardRefresh > SHARD_REFRESH_MS) {
        // Shards that appear later (resharding) are read from their start: nothing written to them is missed.
        const start = cursors.size === 0 ? firstStart : 'TRIM_HORIZON';
        for (const shardId of await listShardIds(client, config.stream)) {
          if (!cursors.has(shardId)) cursors.set(shardId, { iterator: undefined, lastSequence: undefined, closed: false });
          const cursor = cursors.get(shardId)!;
          if (!cursor.iterator && !cursor.closed) cursor.iterator = await iteratorFor(client, config.stream, shardId, cursor, start);
        }
        lastShardRefresh = Date.now();
      }
      let got = 0;
      for (const [shardId, cursor] of cursors) {
        if (cursor.closed || !cursor.iterator) continue;
        let answer: GetRecordsCommandOutput;
        try {
          answer = await client.send(new GetRecordsCommand({ ShardIterator: cursor.iterator, Limit: 10_000 }));
        } catch (err) {
          if ((err as Error).name !== 'ExpiredIteratorException') throw err;
          cursor.iterator = await iteratorFor(client, config.stream, shardId, cursor, firstStart);
          continue;
        }
        const records = answer.Records ?? [];
        if (records.length > 0) {
          // Whatever the gateway wrote: raw envelopes or KPL aggregates of them.
          const lines = records.flatMap((r) => deaggregate(r.Data!, r.PartitionKey!).map((u) => `${Buffer.from(u.data).toString('utf8')}\n`));
          await write(out, lines.join(''));
          cursor.lastSequence = records[records.length - 1].SequenceNumber;
          got += records.length;
        }
        cursor.iterator = answer.NextShardIterator;
        cursor.closed = !answer.NextShardIterator;
      }
      if (got > 0) lastRecordAt = Date.now();
      else if (config.idleExit > 0 && Date.now() - lastRecordAt >= config.idleExit * 1000) return;
      else await sleep(IDLE_POLL_MS);
    }
  } finally {
    client.destroy();
  }
}
