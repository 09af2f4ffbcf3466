// The disk spool: numbered segment files of entries (spool-format.ts) that hold the events the ring
// cannot hold yet (overflow) and, with --durability disk, every event before it is acknowledged.
//
// The spool is a log with a load cursor. Events are appended in the order they are taken; the ring
// takes them from the cursor in the same order. While the cursor has caught up with the end, a new
// request's events go into the ring at once (and, with --durability disk, are appended too). Once
// the ring is full, events are only appended, and the refill loop reads them back from disk into the
// ring as space frees, so memory stays bounded by the ring and one read buffer. A segment is deleted
// once it is closed, read whole, and every event loaded from it is settled (confirmed by Kinesis or
// dead-lettered). At start, the segments an earlier run left are replayed the same way.
//
// Appends are group-committed: the entries staged during --spool-commit-ms are written and
// fdatasync'ed together, off the main thread, and only then are their requests answered.

import { closeSync, mkdirSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { receivedAtOf, type EnvelopeWriter, type RecordSink } from '../events/envelope';
import type { Logger } from '../log';
import { METRICS } from '../metrics/metric-definitions';
import type { CounterHandle, HistogramHandle, SharedMetrics } from '../metrics/shared-metrics';
import { RecordOwners } from '../ring/record-owners';
import { dataOffset, KEY_LENGTH_OFFSET, RECORD_HEADER_BYTES, RECORD_LENGTH_OFFSET } from '../ring/ring-layout';
import type { RingWriter } from '../ring/ring-writer';
import { appendDeadLetters } from '../shipper/dead-letter';
import { checkEntry, ENTRY_HEADER_BYTES, MAX_RECORD_BYTES, nextMarker, sealEntry } from './spool-format';

export interface SpoolCounters {
  readonly spilledEvents: CounterHandle;
  readonly replayedEvents: CounterHandle;
  readonly corruptEntries: CounterHandle;
  readonly commitsOk: CounterHandle;
  readonly commitsFailed: CounterHandle;
  readonly commitDuration: HistogramHandle;
  /** Events given up because they can never fit the ring (counted as `refused` dead letters). */
  readonly deadLettered: CounterHandle;
}

export function spoolCounters(metrics: SharedMetrics): SpoolCounters {
  return {
    spilledEvents: metrics.counter(METRICS.spoolSpilled),
    replayedEvents: metrics.counter(METRICS.spoolReplayed),
    corruptEntries: metrics.counter(METRICS.spoolCorrupt),
    commitsOk: metrics.counter(METRICS.spoolCommits, 'ok'),
    commitsFailed: metrics.counter(METRICS.spoolCommits, 'error'),
    commitDuration: metrics.histogram(METRICS.spoolCommitDuration),
    deadLettered: metrics.counter(METRICS.deadLettered, 'refused'),
  };
}

export interface SpoolOptions {
  readonly dir: string;
  readonly maxBytes: number;
  readonly segmentBytes: number;
  readonly commitMs: number;
  readonly ring: RingWriter;
  readonly log: Logger;
  readonly counters: SpoolCounters;
  /** Where a spooled event goes that can never fit the ring (it was spooled before --ring-bytes was lowered). */
  readonly deadLetterFile: string;
  /** A record was loaded from disk into the ring (the ring's backlog learns when it was received). */
  readonly onLoaded?: (seq: number, receivedAt: number) => void;
  /** The file calls, replaceable so that tests can hold a datasync or fail a read or a delete. */
  readonly files?: SpoolFiles;
}

export interface SpoolFiles {
  open(file: string, flags: string): Promise<FileHandle>;
  unlink(file: string): Promise<void>;
}

const REAL_FILES: SpoolFiles = { open, unlink };

const SEGMENT_NAME = /^segment-(\d{12})\.log$/;
/** A segment is closed after this long even if small, so that confirmed events leave the disk. */
const SEGMENT_MAX_AGE_MS = 1000;
/** After a failed commit, requests are refused this long before a commit is tried again; a failed read waits as long. */
const RETRY_AFTER_FAILURE_MS = 1000;
const READ_BUFFER_BYTES = 2 * (MAX_RECORD_BYTES + ENTRY_HEADER_BYTES);
const STAGING_BYTES = 64 * 1024;
const MAX_SPARE_STAGING_BYTES = 4 * 1024 * 1024;

class Segment {
  /** Bytes appended, staged ones included. */
  size = 0;
  /** Bytes on disk and synced. */
  written = 0;
  /** Bytes the ring has taken (or that were skipped as damaged). */
  loaded = 0;
  /** Records loaded into the ring and not yet settled. */
  inRing = 0;
  /** No more appends. */
  closed = false;
  commitsInFlight = 0;
  writer: FileHandle | undefined;
  reader: FileHandle | undefined;
  replayedEvents = 0;
  corruptEntries = 0;
  /** Of a segment an earlier run left: its intact entries the ring has not taken yet (counted at start-up). */
  unreadEntries = 0;
  readonly createdAt = Date.now();
  constructor(readonly id: number, readonly file: string, readonly fromEarlierRun: boolean) {}
}

/** The entries staged in one commit window, all for one segment. */
class Staging implements RecordSink {
  used = 0;
  /** Events appended for the ring to load later (not straight into it). */
  spilledEvents = 0;
  readonly answers: ((error?: Error) => void)[] = [];
  constructor(readonly segment: Segment, public bytes: Buffer) {}

  ensure(extra: number): void {
    if (this.used + extra <= this.bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.used + extra));
    this.bytes.copy(grown, 0, 0, this.used);
    this.bytes = grown;
  }

  reserve(size: number, keyBytes: number): number {
    const record = this.used + ENTRY_HEADER_BYTES;
    this.bytes.writeUInt32LE(size, record + RECORD_LENGTH_OFFSET);
    this.bytes.writeUInt16LE(keyBytes, record + KEY_LENGTH_OFFSET);
    this.used = record + size;
    return record;
  }
}

export class Spool {
  private readonly segments: Segment[] = [];
  private active: Segment;
  private staging: Staging | undefined;
  private commits: Promise<void> = Promise.resolve();
  private totalBytes = 0;
  private unloadedBytes = 0;
  /** Events of this run appended and not loaded into the ring yet (segments of an earlier run are not counted until read). */
  private unloadedEvents = 0;
  /** Where events waiting to be loaded begin to be newer than a second (for the age of the oldest), in append order. */
  private spills: Spill[] = [];
  private spillsFront = 0;
  private failedAt = 0;
  private failure: string | undefined;
  private readonly deletions = new Set<Promise<void>>();
  /** Staging buffers of finished commits, reused: a commit window passes every few milliseconds. */
  private readonly spareBuffers: Buffer[] = [];
  private refilling = false;
  private refillAgain = false;
  private stopped = false;
  private readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private readonly oneSize: number[] = [0];
  private readonly maintenance: NodeJS.Timeout;
  private readonly files: SpoolFiles;
  private readonly owners = new RecordOwners<Segment>((segment, settled) => {
    segment.inRing -= settled;
    if (segment.inRing === 0) this.deleteFinished();
  });

  /** Opens the spool directory and takes up the segments an earlier run left. */
  constructor(private readonly options: SpoolOptions) {
    this.files = options.files ?? REAL_FILES;
    mkdirSync(options.dir, { recursive: true });
    let lastId = 0;
    const names = readdirSync(options.dir).filter((name) => SEGMENT_NAME.test(name)).sort();
    for (const name of names) {
      const file = path.join(options.dir, name);
      const segment = new Segment(Number(SEGMENT_NAME.exec(name)![1]), file, true);
      segment.size = segment.written = statSync(file).size;
      segment.closed = true;
      segment.unreadEntries = this.countEntries(file, segment.size);
      this.add(segment);
      // Their events' receipt times are only read when loaded: the last write is a lower bound of their age.
      this.spills.push({ segment, end: segment.size, receivedAt: statSync(file).mtimeMs });
      lastId = segment.id;
    }
    if (this.segments.length > 0) {
      const events = this.unreadEarlierEvents;
      options.log.info({ dir: options.dir, segments: this.segments.length, bytes: this.totalBytes, events },
        `the spool holds ${events} events in ${this.segments.length} segments (${this.totalBytes} bytes) from an earlier run: replaying them alongside new traffic`);
    }
    this.active = this.newSegment(lastId + 1);
    this.maintenance = setInterval(() => this.closeIdleSegment(), SEGMENT_MAX_AGE_MS).unref();
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /**
   * Events on disk that Kinesis has not confirmed: loaded into the ring and not settled, or not
   * loaded yet (this run's, and the intact entries of an earlier run's segments not read yet).
   */
  get unconfirmedEvents(): number {
    return this.eventsInRing + this.unloadedEvents + this.unreadEarlierEvents;
  }

  /** Intact entries of the segments an earlier run left that the ring has not taken yet. */
  private get unreadEarlierEvents(): number {
    let unread = 0;
    for (const segment of this.segments) unread += segment.unreadEntries;
    return unread;
  }

  /** Events loaded (or appended) into the ring from the spool and not settled yet: on disk as well as in memory. */
  get eventsInRing(): number {
    let inRing = 0;
    for (const segment of this.segments) inRing += segment.inRing;
    return inRing;
  }

  /** Receipt time (about) of the oldest event not loaded into the ring yet; undefined when none waits. */
  get oldestUnloadedAt(): number | undefined {
    while (this.spillsFront < this.spills.length) {
      const spill = this.spills[this.spillsFront];
      if (spill.segment.loaded < Math.min(spill.end, spill.segment.size) && this.segments.includes(spill.segment)) return spill.receivedAt;
      this.spillsFront++;
    }
    if (this.spillsFront > 0) {
      this.spills = [];
      this.spillsFront = 0;
    }
    return undefined;
  }

  /** Nothing is waiting in the spool for the ring: new events may go straight into the ring. */
  get caughtUp(): boolean {
    return this.unloadedBytes === 0;
  }

  /** False after a failed write or sync, until a later commit is tried; such a commit is tried after a pause. */
  get writable(): boolean {
    return this.failure === undefined || Date.now() - this.failedAt >= RETRY_AFTER_FAILURE_MS;
  }

  /** Why the last commit failed, while the spool is failing. */
  get failureReason(): string | undefined {
    return this.failure;
  }

  hasRoom(events: EnvelopeWriter): boolean {
    return this.totalBytes + spooledBytes(events) <= this.options.maxBytes;
  }

  /**
   * Appends the planned events; `answer` is called once they are synced to disk (or with the
   * error that kept them from it). With `intoRing` they are also put into the ring now, and the
   * sequence number of the first is returned; the caller has checked that they fit.
   */
  append(events: EnvelopeWriter, intoRing: boolean, answer: (error?: Error) => void): number {
    const staging = this.stagingBuffer();
    staging.ensure(spooledBytes(events));
    const from = staging.used;
    events.write(staging);
    const bytes = staging.used - from;
    const segment = staging.segment;
    segment.size += bytes;
    this.totalBytes += bytes;
    staging.answers.push(answer);
    if (!intoRing) {
      this.unloadedBytes += bytes;
      this.unloadedEvents += events.count;
      staging.spilledEvents += events.count;
      this.options.counters.spilledEvents.inc(events.count);
      this.markSpill(segment);
      return -1;
    }
    const ring = this.options.ring;
    const firstSeq = ring.nextSeq;
    for (let at = from; at < staging.used;) {
      const record = at + ENTRY_HEADER_BYTES;
      at = record + this.loadRecord(staging.bytes, record);
    }
    this.owners.assign(firstSeq, events.count, segment);
    segment.inRing += events.count;
    segment.loaded += bytes;
    return firstSeq;
  }

  /** Records of the ring were settled: the segments they came from may now be finished. Then more can be loaded. */
  settle(firstSeq: number, count: number): void {
    this.owners.settle(firstSeq, count, NONE);
    this.refill();
  }

  /** Notes the receipt time of spilled events once a second per segment: enough for an age in seconds. */
  private markSpill(segment: Segment): void {
    const now = Date.now();
    const last = this.spills[this.spills.length - 1];
    if (last && last.segment === segment && now - last.receivedAt < 1000 && this.spillsFront < this.spills.length) last.end = segment.size;
    else this.spills.push({ segment, end: segment.size, receivedAt: now });
  }

  /** Commits what is staged now, without waiting for the commit window. */
  async flush(): Promise<void> {
    this.sealStaging();
    await this.commits;
  }

  /** Stops loading and closes the files; what is not settled stays on disk for the next start. */
  async close(): Promise<void> {
    this.stopped = true;
    clearInterval(this.maintenance);
    if (this.active.size > 0) this.rollSegment(); // seals what is staged: it all belongs to the active segment
    await this.flush();
    this.deleteFinished();
    await Promise.all(this.deletions);
    for (const segment of this.segments) {
      await segment.writer?.close().catch(() => undefined);
      await segment.reader?.close().catch(() => undefined);
    }
  }

  /** Reads segments from the load cursor into the ring while it has room. One pass runs at a time. */
  refill(): void {
    if (this.stopped) return;
    if (this.refilling) {
      this.refillAgain = true;
      return;
    }
    this.refilling = true;
    this.loadFromDisk()
      .catch((err: Error) => {
        // A release or a commit would try again, but with the ring empty and no traffic none comes.
        this.options.log.error({ err: err.message }, `reading the spool failed; retrying in ${RETRY_AFTER_FAILURE_MS} ms`);
        setTimeout(() => this.refill(), RETRY_AFTER_FAILURE_MS).unref();
      })
      .finally(() => {
        this.refilling = false;
        if (this.refillAgain) {
          this.refillAgain = false;
          this.refill();
        }
      });
  }

  private async loadFromDisk(): Promise<void> {
    for (;;) {
      this.refillAgain = false;
      const segment = this.segments.find((s) => s.loaded < s.size);
      if (!segment || segment.loaded >= segment.written || this.stopped) return;
      segment.reader ??= await this.files.open(segment.file, 'r');
      const length = Math.min(this.readBuffer.length, segment.written - segment.loaded);
      const { bytesRead } = await segment.reader.read(this.readBuffer, 0, length, segment.loaded);
      // Nothing more will be written to it: a last entry cut short is a torn tail, not a wait.
      const final = segment.closed && segment.commitsInFlight === 0 && segment.loaded + bytesRead === segment.size;
      const { consumed, ringFull } = this.loadEntries(segment, bytesRead, final);
      segment.loaded += consumed;
      this.unloadedBytes -= consumed;
      if (this.unloadedBytes === 0) this.unloadedEvents = 0; // caught up: nothing of this run waits (damaged entries are not counted as events)
      if (segment.loaded === segment.size && segment.fromEarlierRun) this.reportReplayed(segment);
      this.deleteFinished();
      if (ringFull || (consumed === 0 && !this.refillAgain)) return;
    }
  }

  /** Loads whole entries from the read buffer into the ring; damaged bytes are skipped and counted. */
  private loadEntries(segment: Segment, end: number, final: boolean): { consumed: number; ringFull: boolean } {
    const bytes = this.readBuffer;
    const ring = this.options.ring;
    let at = 0;
    let inDamagedStretch = false; // one count per stretch of damage, however many markers it holds
    while (at < end) {
      const check = checkEntry(bytes, at, end);
      if (check.kind === 'incomplete' && !final) break;
      if (check.kind !== 'entry') {
        if (!inDamagedStretch) {
          inDamagedStretch = true;
          segment.corruptEntries++;
          this.options.counters.corruptEntries.inc();
        }
        at = nextMarker(bytes, at, end);
        continue;
      }
      inDamagedStretch = false;
      const record = at + ENTRY_HEADER_BYTES;
      if (check.recordBytes > ring.capacity) {
        if (segment.unreadEntries > 0) segment.unreadEntries--;
        this.giveUp(bytes.subarray(dataOffset(record, check.keyBytes), record + check.recordBytes), check.recordBytes);
        at = record + check.recordBytes;
        continue;
      }
      this.oneSize[0] = check.recordBytes;
      if (!ring.fits(this.oneSize)) return { consumed: at, ringFull: true };
      const seq = ring.nextSeq;
      this.loadRecord(bytes, record);
      this.owners.assign(seq, 1, segment);
      segment.inRing++;
      if (!segment.fromEarlierRun && this.unloadedEvents > 0) this.unloadedEvents--;
      if (segment.unreadEntries > 0) segment.unreadEntries--;
      this.options.onLoaded?.(seq, receivedAtOf(bytes.subarray(dataOffset(record, check.keyBytes), record + check.recordBytes)));
      if (segment.fromEarlierRun) {
        segment.replayedEvents++;
        this.options.counters.replayedEvents.inc();
      }
      at = record + check.recordBytes;
    }
    return { consumed: at, ringFull: false };
  }

  /** A record larger than the whole ring would wait for room forever: its envelope goes to the dead-letter file instead. */
  private giveUp(envelope: Buffer, recordBytes: number): void {
    const { ring, deadLetterFile, counters, log } = this.options;
    appendDeadLetters(deadLetterFile, [envelope]);
    counters.deadLettered.inc();
    log.error(
      { recordBytes, ringBytes: ring.capacity, file: deadLetterFile },
      `a spooled event of ${recordBytes} bytes can never fit the ${ring.capacity}-byte ring (was --ring-bytes lowered?): written to the dead-letter file`,
    );
  }

  /**
   * The intact entries of a segment file, judged as the refill loop will judge them (a damaged
   * stretch or a torn tail is not counted), so that what the spool holds can be told in events
   * before it is read. One pass over the file at start-up, through the read buffer.
   */
  private countEntries(file: string, size: number): number {
    const bytes = this.readBuffer;
    const fd = openSync(file, 'r');
    let entries = 0;
    try {
      for (let position = 0; position < size;) {
        const end = readSync(fd, bytes, 0, Math.min(bytes.length, size - position), position);
        if (end === 0) break; // the file shrank since it was measured
        const final = position + end === size;
        let at = 0;
        while (at < end) {
          const check = checkEntry(bytes, at, end);
          if (check.kind === 'incomplete' && !final) break;
          if (check.kind === 'entry') {
            entries++;
            at += ENTRY_HEADER_BYTES + check.recordBytes;
          } else {
            at = nextMarker(bytes, at, end);
          }
        }
        position += at;
      }
    } finally {
      closeSync(fd);
    }
    return entries;
  }

  /** Copies one record (ring layout, at `record` in `bytes`) into the ring; returns its size. */
  private loadRecord(bytes: Buffer, record: number): number {
    const size = bytes.readUInt32LE(record + RECORD_LENGTH_OFFSET);
    const keyBytes = bytes.readUInt16LE(record + KEY_LENGTH_OFFSET);
    const ring = this.options.ring;
    const at = ring.reserve(size, keyBytes);
    ring.bytes.set(bytes.subarray(record + RECORD_HEADER_BYTES, record + size), at + RECORD_HEADER_BYTES);
    return size;
  }

  private reportReplayed(segment: Segment): void {
    const fields = { segment: segment.file, events: segment.replayedEvents, corruptEntries: segment.corruptEntries };
    if (segment.corruptEntries > 0) this.options.log.warn(fields, `replayed ${segment.file}: ${segment.replayedEvents} events; skipped ${segment.corruptEntries} damaged or torn entries`);
    else this.options.log.info(fields, `replayed ${segment.file}: ${segment.replayedEvents} events`);
  }

  private stagingBuffer(): Staging {
    if (this.staging) return this.staging;
    if (this.active.size >= this.options.segmentBytes) this.rollSegment();
    this.staging = new Staging(this.active, this.spareBuffers.pop() ?? Buffer.allocUnsafe(STAGING_BYTES));
    const staging = this.staging;
    setTimeout(() => this.staging === staging && this.sealStaging(), this.options.commitMs);
    return staging;
  }

  private sealStaging(): void {
    const staging = this.staging;
    if (!staging) return;
    this.staging = undefined;
    staging.segment.commitsInFlight++;
    this.commits = this.commits
      .then(() => this.commit(staging))
      .catch((err: Error) => this.options.log.error({ err }, 'unexpected error after a spool commit'));
  }

  private async commit(staging: Staging): Promise<void> {
    const segment = staging.segment;
    const started = performance.now();
    const at = segment.written;
    let error: Error | undefined;
    try {
      for (let entry = 0; entry < staging.used;) {
        sealEntry(staging.bytes, entry);
        entry += ENTRY_HEADER_BYTES + staging.bytes.readUInt32LE(entry + ENTRY_HEADER_BYTES + RECORD_LENGTH_OFFSET);
      }
      if (!segment.writer) {
        segment.writer = await this.files.open(segment.file, 'wx');
        await this.syncDirectory(); // the new file's name must survive a power loss too
      }
      await segment.writer.write(staging.bytes, 0, staging.used, at);
      await segment.writer.datasync();
      segment.written += staging.used;
    } catch (err) {
      error = err as Error;
      this.forgetFailedCommit(segment, at, staging.used);
      this.unloadedEvents -= staging.spilledEvents;
      await segment.writer?.truncate(at).catch(() => undefined);
    }
    this.options.counters.commitDuration.observe((performance.now() - started) / 1000);
    segment.commitsInFlight--;
    if (error) this.commitFailed(error);
    else this.commitSucceeded();
    if (this.spareBuffers.length < 2 && staging.bytes.length <= MAX_SPARE_STAGING_BYTES) this.spareBuffers.push(staging.bytes);
    for (const answer of staging.answers) answer(error);
    if (segment.closed && segment.commitsInFlight === 0) {
      await segment.writer?.close().catch(() => undefined);
      segment.writer = undefined;
    }
    this.refill();
  }

  /** The failed bytes [at, at + bytes) are not in the file: the accounts drop them. */
  private forgetFailedCommit(segment: Segment, at: number, bytes: number): void {
    segment.size -= bytes;
    this.totalBytes -= bytes;
    const loadedOfThem = Math.min(bytes, Math.max(0, segment.loaded - at));
    const unloadedOfThem = bytes - loadedOfThem;
    segment.loaded -= loadedOfThem;
    this.unloadedBytes -= unloadedOfThem;
  }

  private commitFailed(error: Error): void {
    this.options.counters.commitsFailed.inc();
    if (this.failure === undefined) {
      this.options.log.error({ dir: this.options.dir, err: error.message },
        `cannot write the spool (${error.message}): refusing events with 503 until it is writable again`);
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

  private async syncDirectory(): Promise<void> {
    const dir = await this.files.open(this.options.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  private newSegment(id: number): Segment {
    const segment = new Segment(id, path.join(this.options.dir, `segment-${String(id).padStart(12, '0')}.log`), false);
    this.add(segment);
    return segment;
  }

  private add(segment: Segment): void {
    this.segments.push(segment);
    this.totalBytes += segment.size;
    this.unloadedBytes += segment.size - segment.loaded;
  }

  private rollSegment(): void {
    this.sealStaging(); // what is staged belongs to the segment being closed
    this.active.closed = true;
    if (this.active.commitsInFlight === 0 && this.active.writer) {
      const writer = this.active.writer;
      this.active.writer = undefined;
      writer.close().catch(() => undefined);
    }
    this.active = this.newSegment(this.active.id + 1);
    this.deleteFinished();
  }

  /** Closes a quiet active segment, so that once its events are confirmed it can be deleted. */
  private closeIdleSegment(): void {
    if (this.active.size > 0 && Date.now() - this.active.createdAt >= SEGMENT_MAX_AGE_MS) this.rollSegment();
  }

  private deleteFinished(): void {
    for (let i = 0; i < this.segments.length; i++) {
      const s = this.segments[i];
      if (s === this.active || !s.closed || s.commitsInFlight > 0 || s.inRing > 0 || s.loaded < s.size || s.written < s.size) continue;
      this.segments.splice(i--, 1);
      this.totalBytes -= s.size;
      const reader = s.reader;
      s.reader = undefined;
      const deletion = Promise.resolve(reader?.close())
        .then(() => (s.written > 0 || s.fromEarlierRun ? this.files.unlink(s.file) : undefined))
        .catch((err: Error) => this.options.log.warn({ segment: s.file, err: err.message }, 'cannot delete a finished spool segment'))
        .finally(() => this.deletions.delete(deletion));
      this.deletions.add(deletion);
    }
  }
}

const NONE: readonly number[] = [];

/** Spilled events of `segment` up to byte `end` were received at `receivedAt` or later. */
interface Spill {
  readonly segment: Segment;
  end: number;
  readonly receivedAt: number;
}

/** What the planned events take in the spool: their records, each behind a marker and checksum. */
function spooledBytes(events: EnvelopeWriter): number {
  return events.total + events.count * ENTRY_HEADER_BYTES;
}
