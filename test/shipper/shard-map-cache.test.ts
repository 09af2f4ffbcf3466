import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { createKinesisClient } from '../../src/kinesis-client';
import { ShardMapCache } from '../../src/shipper/worker-thread/shard-map-cache';
import { startLocalKinesis, type LocalKinesisProcess } from '../support/processes';

let kinesis: LocalKinesisProcess;
before(async () => {
  kinesis = await startLocalKinesis('mapped', 3);
});
after(async () => {
  await kinesis?.kill();
});

describe('ShardMapCache on a local Kinesis', () => {
  it('gives every caller the map, also those that ask while the first read is under way', async () => {
    const client = createKinesisClient({ endpoint: kinesis.endpoint });
    const outcomes: [boolean, number][] = [];
    const cache = new ShardMapCache(client, 'mapped', pino({ level: 'silent' }), { refreshed: (ok, shards) => outcomes.push([ok, shards]) });
    const maps = await Promise.all([cache.get(), cache.get(), cache.get()]);
    assert.ok(
      maps.every((m) => m?.size === 3),
      'no caller went without a map',
    );
    assert.deepEqual(outcomes, [[true, 3]], 'one ListShards read served them all, and its shards are reported');
    client.destroy();
  });

  it('reports a failed read and gives no map, so records go unaggregated', async () => {
    const client = createKinesisClient({ endpoint: kinesis.endpoint });
    const outcomes: [boolean, number][] = [];
    const cache = new ShardMapCache(client, 'no-such-stream', pino({ level: 'silent' }), { refreshed: (ok, shards) => outcomes.push([ok, shards]) });
    assert.equal(await cache.get(), undefined);
    assert.deepEqual(outcomes, [[false, 0]], 'no map: no shards known');
    client.destroy();
  });
});
