// The segments of the spool directory, oldest first, and the sums over them. A segment leaves the
// list (and its file is deleted) once it is finished: closed, read whole, every event settled.

import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log';
import { Segment, SegmentTotals, type SpoolFiles } from './segment';

const SEGMENT_NAME = /^segment-(\d{12})\.log$/;

/** The segment files an earlier run left in `dir`, oldest first; other files are not the spool's. */
export function segmentFilesIn(dir: string): { id: number; file: string }[] {
  return readdirSync(dir)
    .filter((name) => SEGMENT_NAME.test(name))
    .sort()
    .map((name) => ({ id: Number(SEGMENT_NAME.exec(name)![1]), file: path.join(dir, name) }));
}

export class SegmentList {
  private readonly segments: Segment[] = [];
  private readonly totals = new SegmentTotals();
  private readonly deletions = new Set<Promise<void>>();

  constructor(
    private readonly dir: string,
    private readonly files: SpoolFiles,
    private readonly log: Logger,
  ) {}

  /** Bytes appended to the segments, staged ones included. */
  get bytes(): number {
    return this.totals.bytes;
  }

  /** Bytes the ring has not taken yet. */
  get unloadedBytes(): number {
    return this.totals.unloadedBytes;
  }

  get count(): number {
    return this.segments.length;
  }

  /** Records loaded into the ring from the segments and not settled yet. */
  get eventsInRing(): number {
    let inRing = 0;
    for (const segment of this.segments) inRing += segment.inRing;
    return inRing;
  }

  /** Events the ring has not taken yet. */
  get unloadedEvents(): number {
    let unloaded = 0;
    for (const segment of this.segments) unloaded += segment.unloadedEvents;
    return unloaded;
  }

  /** A new, empty segment of this run, after the others. */
  open(id: number): Segment {
    const segment = new Segment(id, path.join(this.dir, `segment-${String(id).padStart(12, '0')}.log`), false, this.totals);
    this.segments.push(segment);
    return segment;
  }

  /** A segment file an earlier run left, of `size` bytes with `entries` intact entries. */
  takeUp(id: number, file: string, size: number, entries: number): Segment {
    const segment = Segment.leftByEarlierRun(id, file, size, entries, this.totals);
    this.segments.push(segment);
    return segment;
  }

  /** The oldest segment with bytes the ring has not taken. */
  firstUnloaded(): Segment | undefined {
    return this.segments.find((segment) => segment.loaded < segment.size);
  }

  /** Drops the finished segments and deletes their files; a file that cannot be deleted is replayed at the next start. */
  deleteFinished(): void {
    for (let i = 0; i < this.segments.length; i++) {
      const segment = this.segments[i];
      if (!segment.finished) continue;
      this.segments.splice(i--, 1);
      const deletion = segment
        .delete(this.files)
        .catch((err: Error) => this.log.warn({ segment: segment.file, err: err.message }, 'cannot delete a finished spool segment'))
        .finally(() => this.deletions.delete(deletion));
      this.deletions.add(deletion);
    }
  }

  /** Deletes what is finished and closes the files of the rest, which stay for the next start. */
  async close(): Promise<void> {
    this.deleteFinished();
    await Promise.all(this.deletions);
    for (const segment of this.segments) await segment.closeFiles();
  }
}
