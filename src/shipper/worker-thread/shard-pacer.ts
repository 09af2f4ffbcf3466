// Runs in a shipper worker thread (and on the main thread of `replay`, which ships without a pool).
//
// Paces PutRecords per shard within the shard's write limits (1,000 records/s and 1 MiB/s), so the
// shipper rarely sees ProvisionedThroughputExceededException. Reservation-style token buckets: a
// reservation may go into debt and says how long to wait before sending. A throttle reported for a
// shard slows that shard's bucket down; it recovers gradually once throttles stop.

import { SHARD_BYTES_PER_SECOND, SHARD_RECORDS_PER_SECOND } from '../../kinesis-limits';

const THROTTLE_FACTOR = 0.5;
const MIN_FACTOR = 0.05;
/** Share of the full rate regained per second without throttles. */
const RECOVERY_PER_SECOND = 0.1;
const QUIET_BEFORE_RECOVERY_MS = 1000;

class Bucket {
  factor = 1;
  records: number;
  bytes: number;
  lastRefill: number;
  lastThrottle = Number.NEGATIVE_INFINITY;

  constructor(
    readonly recordsPerSecond: number,
    readonly bytesPerSecond: number,
    now: number,
  ) {
    this.records = recordsPerSecond;
    this.bytes = bytesPerSecond;
    this.lastRefill = now;
  }

  refill(now: number): void {
    const seconds = (now - this.lastRefill) / 1000;
    this.lastRefill = now;
    if (now - this.lastThrottle > QUIET_BEFORE_RECOVERY_MS) this.factor = Math.min(1, this.factor + RECOVERY_PER_SECOND * seconds);
    // At most one second of burst, at the current rate.
    this.records = Math.min(this.recordsPerSecond * this.factor, this.records + this.recordsPerSecond * this.factor * seconds);
    this.bytes = Math.min(this.bytesPerSecond * this.factor, this.bytes + this.bytesPerSecond * this.factor * seconds);
  }
}

export class ShardPacer {
  private readonly buckets = new Map<string, Bucket>();
  private readonly recordsPerSecond: number;
  private readonly bytesPerSecond: number;

  /** `share` is this pacer's part of each shard's limit (the rate-limit percent over the number of workers). */
  constructor(
    share: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.recordsPerSecond = SHARD_RECORDS_PER_SECOND * share;
    this.bytesPerSecond = SHARD_BYTES_PER_SECOND * share;
  }

  /** Takes capacity for records and bytes on a shard; returns the milliseconds to wait before sending them. */
  reserve(shardId: string, records: number, bytes: number): number {
    const bucket = this.bucket(shardId);
    bucket.refill(this.now());
    bucket.records -= records;
    bucket.bytes -= bytes;
    const waitRecords = bucket.records < 0 ? -bucket.records / (bucket.recordsPerSecond * bucket.factor) : 0;
    const waitBytes = bucket.bytes < 0 ? -bucket.bytes / (bucket.bytesPerSecond * bucket.factor) : 0;
    return Math.max(waitRecords, waitBytes) * 1000;
  }

  throttled(shardId: string): void {
    const bucket = this.bucket(shardId);
    bucket.refill(this.now());
    bucket.factor = Math.max(MIN_FACTOR, bucket.factor * THROTTLE_FACTOR);
    bucket.lastThrottle = this.now();
  }

  /** The share of its full rate a shard is paced at now (1 when it has not been throttled). */
  rateFactor(shardId: string): number {
    return this.buckets.get(shardId)?.factor ?? 1;
  }

  private bucket(shardId: string): Bucket {
    let bucket = this.buckets.get(shardId);
    if (!bucket) {
      bucket = new Bucket(this.recordsPerSecond, this.bytesPerSecond, this.now());
      this.buckets.set(shardId, bucket);
    }
    return bucket;
  }
}
