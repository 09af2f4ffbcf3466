// One segment file of the spool and its accounts. Its byte counters only grow in one order,
//   loaded <= size (the ring has taken, or skipped as damaged, a prefix of what was appended)
//   written <= size (the synced prefix; the rest is staged for a commit),
// and every change goes through a method here, which also keeps the spool's totals over all
// segments in step, so that those sums never drift from their parts.

import type { FileHandle } from 'node:fs/promises';

/** The file calls of the spool, replaceable so that tests can hold a datasync or fail a read or a delete. */
export interface SpoolFiles {
  open(file: string, flags: string): Promise<FileHandle>;
  unlink(file: string): Promise<void>;
}

/** Sums over the segments the spool holds; only `Segment` changes them. */
export class SegmentTotals {
  /** Bytes appended, staged ones included. */
  bytes = 0;
  /** Of them, bytes the ring has not taken yet. */
  unloadedBytes = 0;
}

export class Segment {
  private appendedBytes = 0;
  private writtenBytes = 0;
  private loadedBytes = 0;
  private recordsInRing = 0;
  private eventsNotLoaded = 0;
  private noMoreAppends = false;
  private commits = 0;
  private replayed = 0;
  private damaged = 0;
  private writer: FileHandle | undefined;
  private reader: FileHandle | undefined;
  readonly createdAt = Date.now();

  /** A segment an earlier run left: closed, all of its `size` bytes written, `entries` of them intact. */
  static leftByEarlierRun(id: number, file: string, size: number, entries: number, totals: SegmentTotals): Segment {
    const segment = new Segment(id, file, true, totals);
    segment.appendedBytes = segment.writtenBytes = size;
    segment.eventsNotLoaded = entries;
    segment.noMoreAppends = true;
    totals.bytes += size;
    totals.unloadedBytes += size;
    return segment;
  }

  constructor(
    readonly id: number,
    readonly file: string,
    readonly fromEarlierRun: boolean,
    private readonly totals: SegmentTotals,
  ) {}

  /** Bytes appended, staged ones included. */
  get size(): number {
    return this.appendedBytes;
  }

  /** Bytes on disk and synced. */
  get written(): number {
    return this.writtenBytes;
  }

  /** Bytes the ring has taken (or that were skipped as damaged). */
  get loaded(): number {
    return this.loadedBytes;
  }

  /** Records loaded into the ring and not yet settled. */
  get inRing(): number {
    return this.recordsInRing;
  }

  /**
   * Events the ring has not taken yet: this run's spilled events, or an earlier run's intact entries
   * (counted at start-up). Damaged entries are not events: once the whole segment is loaded, none is left.
   */
  get unloadedEvents(): number {
    return this.eventsNotLoaded;
  }

  /** No more appends. */
  get closed(): boolean {
    return this.noMoreAppends;
  }

  get commitsInFlight(): number {
    return this.commits;
  }

  /** Nothing more will be written to the file: what is in it is all it will hold. */
  get doneWriting(): boolean {
    return this.noMoreAppends && this.commits === 0;
  }

  /** Closed, synced, read whole, and every record loaded from it settled: its file can go. */
  get finished(): boolean {
    return this.doneWriting && this.recordsInRing === 0 && this.loadedBytes >= this.appendedBytes && this.writtenBytes >= this.appendedBytes;
  }

  /** Events of an earlier run's segment loaded into the ring, for the replay report. */
  get replayedEvents(): number {
    return this.replayed;
  }

  /** Stretches of damage skipped while loading. */
  get corruptEntries(): number {
    return this.damaged;
  }

  /** `bytes` of entries were staged for the ring to load later; `events` of them. */
  appendedSpilled(bytes: number, events: number): void {
    this.appendedBytes += bytes;
    this.eventsNotLoaded += events;
    this.totals.bytes += bytes;
    this.totals.unloadedBytes += bytes;
  }

  /** `bytes` of entries were staged and their `records` put into the ring at once. */
  appendedIntoRing(bytes: number, records: number): void {
    this.appendedBytes += bytes;
    this.loadedBytes += bytes;
    this.recordsInRing += records;
    this.totals.bytes += bytes;
  }

  close(): void {
    this.noMoreAppends = true;
  }

  commitStarted(): void {
    this.commits++;
  }

  commitEnded(): void {
    this.commits--;
  }

  /**
   * Writes `bytes[0, length)` after what is written, and syncs it. The file is created by the first
   * write, and `created` is awaited then (its name must be synced too).
   */
  async write(files: SpoolFiles, bytes: Buffer, length: number, created: () => Promise<void>): Promise<void> {
    if (!this.writer) {
      this.writer = await files.open(this.file, 'wx');
      await created();
    }
    await this.writer.write(bytes, 0, length, this.writtenBytes);
    await this.writer.datasync();
    this.writtenBytes += length;
  }

  /**
   * The `length` bytes after what is written (`spilledEvents` events among them) did not reach the
   * disk: the accounts drop them, and the file is cut back to what is written.
   */
  async dropFailedWrite(length: number, spilledEvents: number): Promise<void> {
    const at = this.writtenBytes;
    const loadedOfThem = Math.min(length, Math.max(0, this.loadedBytes - at));
    const unloadedOfThem = length - loadedOfThem;
    this.appendedBytes -= length;
    this.loadedBytes -= loadedOfThem;
    this.eventsNotLoaded -= spilledEvents;
    this.totals.bytes -= length;
    this.totals.unloadedBytes -= unloadedOfThem;
    await this.writer?.truncate(at).catch(() => undefined);
  }

  /** Reads up to `length` bytes at the load cursor into `buffer`; returns how many were read. */
  async read(files: SpoolFiles, buffer: Buffer, length: number): Promise<number> {
    this.reader ??= await files.open(this.file, 'r');
    const { bytesRead } = await this.reader.read(buffer, 0, length, this.loadedBytes);
    return bytesRead;
  }

  /** One record was loaded from the file into the ring. */
  recordLoaded(): void {
    this.recordsInRing++;
    if (this.eventsNotLoaded > 0) this.eventsNotLoaded--;
    if (this.fromEarlierRun) this.replayed++;
  }

  /** One intact record was given up instead of loaded (it can never fit the ring). */
  recordGivenUp(): void {
    if (this.eventsNotLoaded > 0) this.eventsNotLoaded--;
  }

  /** A stretch of damaged or torn bytes was found; it is skipped. */
  damageSkipped(): void {
    this.damaged++;
  }

  /** The load cursor moves past `bytes` read from the file (loaded, given up, or skipped). */
  consumed(bytes: number): void {
    this.loadedBytes += bytes;
    this.totals.unloadedBytes -= bytes;
    if (this.loadedBytes === this.appendedBytes) this.eventsNotLoaded = 0;
  }

  /** `records` loaded from this segment were confirmed by Kinesis or dead-lettered. */
  settled(records: number): void {
    this.recordsInRing -= records;
  }

  async closeWriter(): Promise<void> {
    const writer = this.writer;
    this.writer = undefined;
    await writer?.close().catch(() => undefined);
  }

  async closeFiles(): Promise<void> {
    await this.closeWriter();
    const reader = this.reader;
    this.reader = undefined;
    await reader?.close().catch(() => undefined);
  }

  /** Leaves the spool's totals at once, then deletes the file (if it was ever created). */
  delete(files: SpoolFiles): Promise<void> {
    this.totals.bytes -= this.appendedBytes;
    const reader = this.reader;
    this.reader = undefined;
    return Promise.resolve(reader?.close()).then(() => (this.writtenBytes > 0 || this.fromEarlierRun ? files.unlink(this.file) : undefined));
  }
}
