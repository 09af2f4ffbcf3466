// Runs in a shipper worker thread (and on the main thread of `replay`, which ships without a pool).
//
// Which shard a partition key lands on: Kinesis hashes the key with MD5, reads the digest as a
// big-endian 128-bit integer, and picks the open shard whose hash-key range holds it. Each shard
// also gets a spread key that lands on it, for events whose key does not matter.

import { ListShardsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { hash } from 'node:crypto';

export interface Shard {
  readonly id: string;
  readonly startingHashKey: bigint;
  readonly endingHashKey: bigint;
}

export function hashKeyOf(partitionKey: string): bigint {
  return BigInt(`0x${hash('md5', partitionKey, 'hex')}`);
}

/** About 1/200,000 of the hash space: far smaller than the shards of any real stream. */
const MAX_SPREAD_KEY_TRIES = 200_000;

/** Tries short keys until one hashes into the shard's range; undefined for a tiny range. */
function findSpreadKey(shard: Shard): string | undefined {
  for (let n = 0; n < MAX_SPREAD_KEY_TRIES; n++) {
    const key = `spread-${n}`;
    const hashKey = hashKeyOf(key);
    if (hashKey >= shard.startingHashKey && hashKey <= shard.endingHashKey) return key;
  }
  return undefined;
}

export class ShardMap {
  readonly shards: readonly Shard[];
  private spreadable: { shard: Shard; key: string }[] | undefined;

  constructor(shards: readonly Shard[]) {
    if (shards.length === 0) throw new Error('a stream has at least one open shard');
    this.shards = [...shards].sort((a, b) => (a.startingHashKey < b.startingHashKey ? -1 : 1));
  }

  /**
   * The shards that events without a key of their own are dealt over, each with a partition key
   * that hashes into it (found once, when first needed).
   */
  spreadTargets(): readonly { shard: Shard; key: string }[] {
    this.spreadable ??= this.shards.flatMap((shard) => {
      const key = findSpreadKey(shard);
      return key === undefined ? [] : [{ shard, key }];
    });
    return this.spreadable;
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
