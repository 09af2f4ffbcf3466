// Reads a stream's raw Kinesis records shard by shard, for checks tap does not show: which shard
// a record is on, and that shard's hash-key range.

import { CreateStreamCommand, DescribeStreamSummaryCommand, GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKinesisClient } from '../../src/kinesis-client';

export interface RawShard {
  id: string;
  start: bigint;
  end: bigint;
  records: { partitionKey: string; explicitHashKey?: string; data: Buffer; sequenceNumber: string }[];
}

export async function readShards(endpoint: string, stream: string): Promise<RawShard[]> {
  const client = createKinesisClient({ endpoint, maxAttempts: 5 });
  try {
    const { Shards = [] } = await client.send(new ListShardsCommand({ StreamName: stream }));
    const shards: RawShard[] = [];
    for (const shard of Shards) {
      const raw: RawShard = {
        id: shard.ShardId!,
        start: BigInt(shard.HashKeyRange!.StartingHashKey!),
        end: BigInt(shard.HashKeyRange!.EndingHashKey!),
        records: [],
      };
      let { ShardIterator: iterator } = await client.send(
        new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }),
      );
      while (iterator) {
        const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
        for (const r of page.Records ?? []) raw.records.push({ partitionKey: r.PartitionKey!, data: Buffer.from(r.Data!), sequenceNumber: r.SequenceNumber! });
        if ((page.Records ?? []).length === 0) break;
        iterator = page.NextShardIterator;
      }
      shards.push(raw);
    }
    return shards;
  } finally {
    client.destroy();
  }
}

/** Creates a stream on a local Kinesis and waits until it is ACTIVE. */
export async function createStream(endpoint: string, stream: string, shards: number): Promise<void> {
  const client = createKinesisClient({ endpoint, maxAttempts: 5 });
  try {
    await client.send(new CreateStreamCommand({ StreamName: stream, ShardCount: shards }));
    for (;;) {
      const { StreamDescriptionSummary } = await client.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
      if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
      await sleep(50);
    }
  } finally {
    client.destroy();
  }
}
