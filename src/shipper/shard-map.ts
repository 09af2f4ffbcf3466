// Which shard a partition key lands on: Kinesis hashes the key with MD5, reads the digest as a
// big-endian 128-bit integer, and picks the open shard whose hash-key range holds it.

import { ListShardsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { createHash } from 'node:crypto';

export interface Shard {
  readonly id: string;
  readonly startingHashKey: bigint;
  readonly endingHashKey: bigint;
}

export function hashKeyOf(partitionKey: string): bigint {
  return BigInt('0x' + createHash('md5').update(partitionKey, 'utf8').digest('hex'));
}

export class ShardMap {
  private readonly shards: readonly Shard[];

  constructor(shards: readonly Shard[]) {
    if (shards.length === 0) throw new Error('a stream has at least one open shard');
    this.shards = [...shards].sort((a, b) => (a.startingHashKey < b.startingHashKey ? -1 : 1));
  }

  get size(): number {
    return this.shards.length;
  }

  shardFor(hashKey: bigint): Shard {
    let low = 0;
    let high = this.shards.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.shards[middle].startingHashKey <= hashKey) low = middle;
      else high = middle - 1;
    }
    return this.shards[low];
  }
}

/** Reads every page of ListShards and keeps the open shards (those still taking writes). */
export async function fetchShardMap(client: KinesisClient, stream: string): Promise<ShardMap> {
  const shards: Shard[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(new ListShardsCommand(nextToken ? { NextToken: nextToken } : { StreamName: stream }));
    for (const shard of page.Shards ?? []) {
      if (shard.SequenceNumberRange?.EndingSequenceNumber) continue;
      shards.push({
        id: shard.ShardId!,
        startingHashKey: BigInt(shard.HashKeyRange!.StartingHashKey!),
        endingHashKey: BigInt(shard.HashKeyRange!.EndingHashKey!),
      });
    }
    nextToken = page.NextToken;
  } while (nextToken);
  return new ShardMap(shards);
}
