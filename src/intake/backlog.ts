// The events accepted and not yet settled (confirmed by Kinesis or dead-lettered) while they are in
// the ring: how many, and when the oldest was received. With the spool's own count of what it has
// not loaded yet, this gives gateway_oldest_unconfirmed_age_seconds and the shutdown summary.
//
// Ring records are grouped by receipt time into buckets of up to a second, so that a backlog of
// millions of events (a ring full of batches waiting out an outage) costs a few objects per second
// of traffic, not one per request. Records enter the ring in the order they were received (the
// spool is read in order, and new events go straight into the ring only once it has caught up), so
// the first bucket with unsettled records holds the oldest.

import { RecordOwners } from '../ring/record-owners';

const BUCKET_MS = 1000;

interface Bucket {
  /** Receipt time of the oldest record in it, ms since the epoch. */
  receivedAt: number;
  pending: number;
}

export class Backlog {
  private buckets: Bucket[] = [];
  private front = 0;
  private inRing = 0;
  private readonly owners = new RecordOwners<Bucket>((bucket, settled) => {
    bucket.pending -= settled;
    this.inRing -= settled;
    this.dropSettled();
  });

  /** Events in the ring not yet settled. */
  get eventsInRing(): number {
    return this.inRing;
  }

  /** Receipt time of the oldest event in the ring not yet settled; undefined when there is none. */
  get oldestReceivedAt(): number | undefined {
    for (let i = this.front; i < this.buckets.length; i++) if (this.buckets[i].pending > 0) return this.buckets[i].receivedAt;
    return undefined;
  }

  /** Ring records [firstSeq, firstSeq + count) were written; their events were received at `receivedAt`. */
  written(firstSeq: number, count: number, receivedAt: number): void {
    if (count === 0) return;
    let bucket = this.buckets[this.buckets.length - 1];
    if (!bucket || this.front === this.buckets.length || Math.abs(receivedAt - bucket.receivedAt) >= BUCKET_MS) {
      bucket = { receivedAt, pending: 0 };
      this.buckets.push(bucket);
    } else if (receivedAt < bucket.receivedAt) {
      bucket.receivedAt = receivedAt;
    }
    bucket.pending += count;
    this.inRing += count;
    this.owners.assign(firstSeq, count, bucket);
  }

  /** Ring records [firstSeq, firstSeq + count) were settled. */
  settled(firstSeq: number, count: number): void {
    this.owners.settle(firstSeq, count, NONE);
  }

  private dropSettled(): void {
    while (this.front < this.buckets.length && this.buckets[this.front].pending === 0) this.front++;
    if (this.front > 1024 && this.front * 2 > this.buckets.length) {
      this.buckets = this.buckets.slice(this.front);
      this.front = 0;
    }
  }
}

const NONE: readonly number[] = [];
