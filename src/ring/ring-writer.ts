// Main-thread side of the ring: reserves space for records, groups them into batches, publishes
// each batch when it closes, and frees its space only when the batch is confirmed. See ring-layout.ts.

import { KEY_LENGTH_OFFSET, PUBLISHED_SLOT, RECORD_LENGTH_OFFSET, RingViews } from './ring-layout';

export interface BatchDescriptor {
  readonly start: number;
  readonly end: number;
  readonly count: number;
  /** Sequence number of the batch's first record: records are numbered 0, 1, 2… in the order written. */
  readonly firstSeq: number;
}

interface PendingBatch extends BatchDescriptor {
  /** Bytes freed when this batch is released: its records plus any wrap padding after them. */
  releaseBytes: number;
  confirmed: boolean;
}

export interface BatchLimits {
  readonly maxRecords: number;
  /** Bytes of ring space one batch may span; bounds the request size of its PutRecords. */
  readonly maxBytes: number;
  readonly lingerMs: number;
}

export class RingWriter {
  readonly views: RingViews;
  private head = 0;
  private usedBytes = 0;
  private openStart = 0;
  private openCount = 0;
  private recordsWritten = 0;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** Published, unreleased batches, oldest first: space frees from the front only. */
  private readonly pending: PendingBatch[] = [];
  private pendingFront = 0;

  constructor(
    buffer: SharedArrayBuffer,
    private readonly limits: BatchLimits,
    private readonly publish: (batch: BatchDescriptor) => void,
  ) {
    this.views = new RingViews(buffer);
  }

  get capacity(): number {
    return this.views.capacity;
  }

  get bytes(): Uint8Array {
    return this.views.bytes;
  }

  /** Bytes held by unconfirmed records (and wrap padding). */
  get used(): number {
    return this.usedBytes;
  }

  /** The sequence number the next reserved record gets. */
  get nextSeq(): number {
    return this.recordsWritten;
  }

  /** Records written and not yet confirmed, published or not. */
  get isEmpty(): boolean {
    return this.usedBytes === 0;
  }

  /** Whether records of these sizes (the first `count`), written in order, would all fit now. */
  fits(sizes: readonly number[], count = sizes.length): boolean {
    const capacity = this.capacity;
    let head = this.usedBytes === 0 ? 0 : this.head;
    let used = this.usedBytes;
    for (let i = 0; i < count; i++) {
      const size = sizes[i];
      if (head + size > capacity) {
        used += capacity - head;
        head = 0;
      }
      used += size;
      head += size;
      if (used > capacity) return false;
    }
    return true;
  }

  /**
   * Reserves one record and writes its header; returns its offset in the data region. The caller
   * must have checked `fits` and must fill the key and data before the next call.
   */
  reserve(size: number, keyBytes: number): number {
    const capacity = this.capacity;
    if (this.usedBytes === 0 && this.openCount === 0) this.head = this.openStart = 0;
    if (this.openCount === this.limits.maxRecords || this.head - this.openStart + size > this.limits.maxBytes) {
      this.closeBatch();
    }
    if (this.head + size > capacity) this.wrap();
    if (this.usedBytes + size > capacity) throw new Error(`ring overflow: ${size} bytes do not fit (caller must check fits)`);
    const at = this.head;
    this.views.view.setUint32(at + RECORD_LENGTH_OFFSET, size, true);
    this.views.view.setUint16(at + KEY_LENGTH_OFFSET, keyBytes, true);
    this.head += size;
    this.usedBytes += size;
    this.recordsWritten++;
    if (this.openCount++ === 0 && !this.lingerTimer) {
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = undefined;
        this.closeBatch();
      }, this.limits.lingerMs);
      this.lingerTimer.unref(); // shutdown publishes the open batch itself
    }
    return at;
  }

  /** Publishes the open batch now (end of linger, or shutdown). */
  closeBatch(): void {
    if (this.lingerTimer) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
    }
    if (this.openCount === 0) return;
    const batch: PendingBatch = {
      start: this.openStart,
      end: this.head,
      count: this.openCount,
      firstSeq: this.recordsWritten - this.openCount,
      releaseBytes: this.head - this.openStart,
      confirmed: false,
    };
    this.pending.push(batch);
    this.openStart = this.head;
    this.openCount = 0;
    Atomics.add(this.views.header, PUBLISHED_SLOT, 1);
    this.publish(batch);
  }

  /** Marks a published batch confirmed; frees space up to the oldest still unconfirmed batch. */
  release(batch: BatchDescriptor): void {
    (batch as PendingBatch).confirmed = true;
    while (this.pendingFront < this.pending.length && this.pending[this.pendingFront].confirmed) {
      this.usedBytes -= this.pending[this.pendingFront++].releaseBytes;
    }
    if (this.pendingFront > 1024 && this.pendingFront * 2 > this.pending.length) {
      this.pending.splice(0, this.pendingFront);
      this.pendingFront = 0;
    }
  }

  /** A record does not fit before the end: skip to offset 0, charging the skipped tail to the batch before. */
  private wrap(): void {
    this.closeBatch();
    const padding = this.capacity - this.head;
    const last = this.pending[this.pending.length - 1];
    if (this.pendingFront < this.pending.length && last.end === this.head) {
      last.releaseBytes += padding;
      this.usedBytes += padding;
    }
    this.head = this.openStart = 0;
  }
}
