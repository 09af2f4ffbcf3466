// When the events waiting in the spool for the ring were received, about: one mark a second per
// segment is enough for an age in seconds, and keeps the marks few however fast events spill.

import type { Segment } from './segment';

/** Spilled events of `segment` up to byte `end` were received at `receivedAt` or later. */
interface Mark {
  readonly segment: Segment;
  end: number;
  readonly receivedAt: number;
}

export class UnloadedAges {
  /** In append order. */
  private marks: Mark[] = [];
  private front = 0;

  /** Events were just spilled to the end of `segment`. */
  spilled(segment: Segment): void {
    const now = Date.now();
    const last = this.marks[this.marks.length - 1];
    if (last && last.segment === segment && now - last.receivedAt < 1000 && this.front < this.marks.length) last.end = segment.size;
    else this.marks.push({ segment, end: segment.size, receivedAt: now });
  }

  /** A segment an earlier run left: its events' receipt times are only read when loaded, so its last write stands for them. */
  leftByEarlierRun(segment: Segment, lastWrittenAt: number): void {
    this.marks.push({ segment, end: segment.size, receivedAt: lastWrittenAt });
  }

  /** Receipt time (about) of the oldest event not loaded into the ring yet; undefined when none waits. */
  get oldest(): number | undefined {
    while (this.front < this.marks.length) {
      const mark = this.marks[this.front];
      // A finished (deleted) segment is loaded whole, so its marks are passed here too.
      if (mark.segment.loaded < Math.min(mark.end, mark.segment.size)) return mark.receivedAt;
      this.front++;
    }
    if (this.front > 0) {
      this.marks = [];
      this.front = 0;
    }
    return undefined;
  }
}
