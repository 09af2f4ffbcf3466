// Runs in a shipper worker thread (and on the main thread of `replay`, which ships without a pool).
//
// One worker's view of the stream's shards: read with ListShards when first needed and again after
// a record lands on an unexpected shard, at most once a second. When it cannot be read, records go
// unaggregated (safe on any shard) and the failure is counted and logged.

import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Logger } from '../../log';
import type { ShardMapSource } from './put-records';
import { fetchShardMap, type ShardMap } from './shard-map';

const MIN_REFRESH_INTERVAL_MS = 1000;

export interface ShardMapEvents {
  /** A ListShards read succeeded or failed; `shards`: the open shards of the map in use now (0: none yet). */
  refreshed(ok: boolean, shards: number): void;
}

export class ShardMapCache implements ShardMapSource {
  private map: ShardMap | undefined;
  private stale = true;
  private lastAttempt = Number.NEGATIVE_INFINITY;
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly client: KinesisClient,
    private readonly stream: string,
    private readonly log: Logger,
    private readonly events: ShardMapEvents,
  ) {}

  async get(): Promise<ShardMap | undefined> {
    if (this.stale && !this.inFlight && Date.now() - this.lastAttempt >= MIN_REFRESH_INTERVAL_MS) {
      this.inFlight = this.refresh().finally(() => (this.inFlight = undefined));
    }
    // Tasks that arrive while a read is under way wait for it rather than go unaggregated.
    if (this.inFlight) await this.inFlight;
    return this.map;
  }

  invalidate(): void {
    this.stale = true;
  }

  private async refresh(): Promise<void> {
    this.lastAttempt = Date.now();
    try {
      const fresh = await fetchShardMap(this.client, this.stream);
      if (this.map && this.map.size !== fresh.size) this.log.info({ shards: fresh.size }, 'the stream was resharded: shard map refreshed');
      this.map = fresh;
      this.stale = false;
      this.events.refreshed(true, fresh.size);
    } catch (err) {
      this.events.refreshed(false, this.map?.size ?? 0);
      this.log.warn(
        { error: (err as Error).name, detail: (err as Error).message },
        this.map
          ? 'cannot refresh the shard map (ListShards failed); aggregating on the previous one'
          : 'cannot read the shard map (ListShards failed); sending records unaggregated until it can be read',
      );
    }
  }
}
