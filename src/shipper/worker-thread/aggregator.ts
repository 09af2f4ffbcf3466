// Runs in a shipper worker thread (and on the main thread of `replay`, which ships without a pool).
//
// Turns user events into Kinesis records: grouped by the shard their partition key hashes to, and
// packed into KPL aggregates of at most `maxBytes`. Every user record of an aggregate lies inside the
// hash-key range of the shard it is sent to (a KCL consumer drops the whole aggregate otherwise),
// and the aggregate carries an ExplicitHashKey that lands on that shard. An event alone goes raw.

import { eventIdOf } from '../../events/envelope';
import { AGGREGATE_OVERHEAD, encodeAggregate, keyEntryBytes, recordEntryBytes } from '../../kpl/aggregated-record';
import { hashKeyOf, type ShardMap } from './shard-map';

export interface PendingEvent {
  /** Empty for events whose key does not matter (--partition-key random): they are dealt evenly over the shards. */
  readonly partitionKey: string;
  /** The event's envelope: a view into the ring, valid while its task runs. */
  readonly data: Uint8Array;
  readonly receivedAt: number;
  hashKey?: bigint;
}

export interface OutboundRecord {
  readonly data: Uint8Array;
  readonly partitionKey: string;
  readonly explicitHashKey?: string;
  /** The shard this record is predicted to land on, when the shard map is known. */
  readonly shardId?: string;
  readonly events: readonly PendingEvent[];
  readonly oldestReceivedAt: number;
}

function oldest(events: readonly PendingEvent[]): number {
  let min = Number.POSITIVE_INFINITY;
  for (const e of events) if (e.receivedAt < min) min = e.receivedAt;
  return min;
}

function raw(event: PendingEvent, shardId?: string): OutboundRecord {
  // Without a shard map, a keyless event is sent under its own id: random, so evenly spread.
  const partitionKey = event.partitionKey || eventIdOf(event.data);
  return { data: event.data, partitionKey, shardId, events: [event], oldestReceivedAt: event.receivedAt };
}

function aggregate(events: PendingEvent[], shardId: string): OutboundRecord {
  if (events.length === 1) return raw(events[0], shardId);
  const first = events[0];
  first.hashKey ??= hashKeyOf(first.partitionKey);
  return {
    data: encodeAggregate(events),
    partitionKey: first.partitionKey,
    explicitHashKey: first.hashKey.toString(),
    shardId,
    events,
    oldestReceivedAt: oldest(events),
  };
}

/** Packs one shard's events; sizes are counted in bytes, with magic, MD5 and the outer partition key. */
function packShard(events: readonly PendingEvent[], shardId: string, maxBytes: number, out: OutboundRecord[]): void {
  let current: PendingEvent[] = [];
  let keys = new Map<string, number>();
  let size = 0;
  for (const event of events) {
    for (;;) {
      if (current.length === 0) size = AGGREGATE_OVERHEAD + Buffer.byteLength(event.partitionKey);
      const known = keys.get(event.partitionKey);
      const index = known ?? keys.size;
      const added = (known === undefined ? keyEntryBytes(Buffer.byteLength(event.partitionKey)) : 0) + recordEntryBytes(index, event.data.length);
      if (current.length > 0 && size + added > maxBytes) {
        out.push(aggregate(current, shardId));
        current = [];
        keys = new Map();
        continue; // start the next aggregate with this event
      }
      if (known === undefined) keys.set(event.partitionKey, index);
      current.push(event);
      size += added;
      break;
    }
  }
  if (current.length > 0) out.push(aggregate(current, shardId));
}

/**
 * Without a shard map nothing can be aggregated safely: every event goes raw. `maxBytes` of 0 turns
 * aggregation off (for consumers that cannot de-aggregate) while still predicting shards for pacing.
 */
let nextSpreadShard = 0;

export function buildRecords(events: readonly PendingEvent[], map: ShardMap | undefined, maxBytes: number): OutboundRecord[] {
  if (!map) return events.map((event) => raw(event));
  const byShard = new Map<string, PendingEvent[]>();
  const group = (shardId: string) => {
    let members = byShard.get(shardId);
    if (!members) {
      members = [];
      byShard.set(shardId, members);
    }
    return members;
  };
  const keyless: PendingEvent[] = [];
  for (const event of events) {
    if (!event.partitionKey) {
      keyless.push(event);
      continue;
    }
    event.hashKey ??= hashKeyOf(event.partitionKey);
    group(map.shardFor(event.hashKey).id).push(event);
  }
  // Keyless events go in contiguous slices, one per shard, each under a key that hashes into its
  // shard: no hashing per event, and full aggregates. The first shard rotates from one call to the
  // next so that small tasks spread too.
  const targets = keyless.length > 0 ? map.spreadTargets() : [];
  if (targets.length === 0) {
    // No shard has a spread key (only tiny hash ranges do not): key each event by its id instead.
    for (const event of keyless) {
      const keyed: PendingEvent = { partitionKey: eventIdOf(event.data), data: event.data, receivedAt: event.receivedAt };
      keyed.hashKey = hashKeyOf(keyed.partitionKey);
      group(map.shardFor(keyed.hashKey).id).push(keyed);
    }
    keyless.length = 0;
  }
  const perShard = Math.ceil(keyless.length / Math.max(1, targets.length));
  for (let slice = 0; slice * perShard < keyless.length; slice++) {
    const target = targets[(nextSpreadShard + slice) % targets.length];
    const members = group(target.shard.id);
    for (const event of keyless.slice(slice * perShard, (slice + 1) * perShard)) {
      members.push({ partitionKey: target.key, data: event.data, receivedAt: event.receivedAt, hashKey: undefined });
    }
    if ((slice + 1) * perShard >= keyless.length) nextSpreadShard = (nextSpreadShard + slice + 1) % targets.length;
  }
  const out: OutboundRecord[] = [];
  for (const [shardId, group] of byShard) {
    if (maxBytes === 0) for (const event of group) out.push(raw(event, shardId));
    else packShard(group, shardId, maxBytes, out);
  }
  return out;
}
