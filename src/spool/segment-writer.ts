// Appending to the spool: entries are staged in memory for --spool-commit-ms, then written and
// fdatasync'ed together (a group commit, off the main thread), and only then are their requests
// answered. Segments roll at --spool-segment-bytes or after a quiet second, so that confirmed events
// leave the disk. A failed commit turns requests away for a pause before the next one is tried.

import type { EnvelopeWriter, RecordSink } from '../events/envelope';
import type { Logger } from '../log';
import type { CounterHandle, HistogramHandle } from '../metrics/shared-metrics';
import { KEY_LENGTH_OFFSET, RECORD_LENGTH_OFFSET } from '../ring/ring-layout';
import type { Segment, SpoolFiles } from './segment';
import type { SegmentList } from './segment-list';
import { ENTRY_HEADER_BYTES, sealEntry } from './spool-format';

/** A segment is closed after this long even if small, so that confirmed events leave the disk. */
export const SEGMENT_MAX_AGE_MS = 1000;
/** After a failed commit, requests are refused this long before a commit is tried again. */
export const RETRY_AFTER_FAILURE_MS = 1000;
const STAGING_BYTES = 64 * 1024;
const MAX_SPARE_STAGING_BYTES = 4 * 1024 * 1024;

/** What the planned events take in the spool: their records, each behind a marker and checksum. */
export function spooledBytes(events: EnvelopeWriter): number {
  return events.total + events.count * ENTRY_HEADER_BYTES;
}

export interface CommitCounters {
  readonly commitsOk: CounterHandle;
  readonly commitsFailed: CounterHandle;
  readonly commitDuration: HistogramHandle;
}

export interface SegmentWriterOptions {
  readonly dir: string;
  readonly segmentBytes: number;
  readonly commitMs: number;
  readonly files: SpoolFiles;
  readonly log: Logger;
  readonly counters: CommitCounters;
  readonly segments: SegmentList;
  /** The id of the first segment this run writes (after those an earlier run left). */
  readonly firstId: number;
  /** A commit ended: what it wrote may now be loaded. */
  readonly afterCommit: () => void;
}

/** The entries staged in one commit window, all for one segment. */
export class Staging implements RecordSink {
  used = 0;
  /** Events appended for the ring to load later (not straight into it). */
  spilledEvents = 0;
  readonly answers: ((error?: Error) => void)[] = [];
  constructor(
    readonly segment: Segment,
    public bytes: Buffer,
  ) {}

  /** Writes the planned events as entries (sealed at commit); `answer` learns how the commit went. Returns the bytes added. */
  add(events: EnvelopeWriter, answer: (error?: Error) => void, spilled: boolean): number {
    this.ensure(spooledBytes(events));
    const from = this.used;
    events.write(this);
    this.answers.push(answer);
    if (spilled) this.spilledEvents += events.count;
    return this.used - from;
  }

  reserve(size: number, keyBytes: number): number {
    const record = this.used + ENTRY_HEADER_BYTES;
    this.bytes.writeUInt32LE(size, record + RECORD_LENGTH_OFFSET);
    this.bytes.writeUInt16LE(keyBytes, record + KEY_LENGTH_OFFSET);
    this.used = record + size;
    return record;
  }

  /** Fills in the marker and checksum of every entry. */
  seal(): void {
    for (let entry = 0; entry < this.used; ) {
      sealEntry(this.bytes, entry);
      entry += ENTRY_HEADER_BYTES + this.bytes.readUInt32LE(entry + ENTRY_HEADER_BYTES + RECORD_LENGTH_OFFSET);
    }
  }

  private ensure(extra: number): void {
    if (this.used + extra <= this.bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.used + extra));
    this.bytes.copy(grown, 0, 0, this.used);
    this.bytes = grown;
  }
}

export class SegmentWriter {
  private active: Segment;
  private current: Staging | undefined;
  private commits: Promise<void> = Promise.resolve();
  private failedAt = 0;
  private failure: string | undefined;
  /** Staging buffers of finished commits, reused: a commit window passes every few milliseconds. */
  private readonly spareBuffers: Buffer[] = [];
  private readonly maintenance: NodeJS.Timeout;

  constructor(private readonly options: SegmentWriterOptions) {
    this.active = options.segments.open(options.firstId);
    this.maintenance = setInterval(() => this.closeIdleSegment(), SEGMENT_MAX_AGE_MS).unref();
  }

  /** False after a failed write or sync, until a later commit is tried; such a commit is tried after a pause. */
  get writable(): boolean {
    return this.failure === undefined || Date.now() - this.failedAt >= RETRY_AFTER_FAILURE_MS;
  }

  /** Why the last commit failed, while the spool is failing. */
  get failureReason(): string | undefined {
    return this.failure;
  }

  /** The entries of the open commit window; a new window (in a new segment once the active one is full) if none is open. */
  staging(): Staging {
    if (this.current) return this.current;
    if (this.active.size >= this.options.segmentBytes) this.rollSegment();
    const staging = new Staging(this.active, this.spareBuffers.pop() ?? Buffer.allocUnsafe(STAGING_BYTES));
    this.current = staging;
    setTimeout(() => this.current === staging && this.sealStaging(), this.options.commitMs);
    return staging;
  }

  /** Commits what is staged now, without waiting for the commit window. */
  async flush(): Promise<void> {
    this.sealStaging();
    await this.commits;
  }

  /** Closes the active segment and commits what is staged for it. */
  async close(): Promise<void> {
    clearInterval(this.maintenance);
    if (this.active.size > 0) this.rollSegment(); // seals what is staged: it all belongs to the active segment
    await this.flush();
  }

  private sealStaging(): void {
    const staging = this.current;
    if (!staging) return;
    this.current = undefined;
    staging.segment.commitStarted();
    this.commits = this.commits
      .then(() => this.commit(staging))
      .catch((err: Error) => this.options.log.error({ err }, 'unexpected error after a spool commit'));
  }

  private async commit(staging: Staging): Promise<void> {
    const segment = staging.segment;
    const started = performance.now();
    let error: Error | undefined;
    try {
      staging.seal();
      await segment.write(this.options.files, staging.bytes, staging.used, () => this.syncDirectory());
    } catch (err) {
      error = err as Error;
      await segment.dropFailedWrite(staging.used, staging.spilledEvents);
    }
    this.options.counters.commitDuration.observe((performance.now() - started) / 1000);
    segment.commitEnded();
    if (error) this.commitFailed(error);
    else this.commitSucceeded();
    if (this.spareBuffers.length < 2 && staging.bytes.length <= MAX_SPARE_STAGING_BYTES) this.spareBuffers.push(staging.bytes);
    for (const answer of staging.answers) answer(error);
    if (segment.doneWriting) await segment.closeWriter();
    this.options.afterCommit();
  }

  private commitFailed(error: Error): void {
    this.options.counters.commitsFailed.inc();
    if (this.failure === undefined) {
      this.options.log.error(
        { dir: this.options.dir, err: error.message },
        `cannot write the spool (${error.message}): refusing events with 503 until it is writable again`,
      );
    }
    this.failure = error.message;
    this.failedAt = Date.now();
  }

  private commitSucceeded(): void {
    this.options.counters.commitsOk.inc();
    if (this.failure === undefined) return;
    this.options.log.info({ dir: this.options.dir }, 'the spool is writable again');
    this.failure = undefined;
  }

  /** A new file's name must survive a power loss too. */
  private async syncDirectory(): Promise<void> {
    const dir = await this.options.files.open(this.options.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  private rollSegment(): void {
    this.sealStaging(); // what is staged belongs to the segment being closed
    this.active.close();
    if (this.active.doneWriting) void this.active.closeWriter();
    this.active = this.options.segments.open(this.active.id + 1);
    this.options.segments.deleteFinished();
  }

  /** Closes a quiet active segment, so that once its events are confirmed it can be deleted. */
  private closeIdleSegment(): void {
    if (this.active.size > 0 && Date.now() - this.active.createdAt >= SEGMENT_MAX_AGE_MS) this.rollSegment();
  }
}
