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
// This file is what Intake and the gateway talk to; the parts are
//   segment.ts         one segment file and its counters
//   segment-list.ts    the segments in order, their totals, deleting finished ones
//   segment-writer.ts  staging, group commit, rolling segments, the failure state
//   refill.ts          loading from disk into the ring, giving up entries that can never fit
//   unloaded-ages.ts   how old the events waiting for the ring are

import { mkdirSync, statSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import type { EnvelopeWriter } from '../events/envelope';
import type { Logger } from '../log';
import { METRICS } from '../metrics/metric-definitions';
import type { CounterHandle, SharedMetrics } from '../metrics/shared-metrics';
import { RecordOwners } from '../ring/record-owners';
import type { RingWriter } from '../ring/ring-writer';
import { copyIntoRing, Refill, type RefillCounters } from './refill';
import type { Segment, SpoolFiles } from './segment';
import { SegmentList, segmentFilesIn } from './segment-list';
import { SegmentWriter, spooledBytes, type CommitCounters } from './segment-writer';
import { ENTRY_HEADER_BYTES } from './spool-format';
import { UnloadedAges } from './unloaded-ages';

export type { SpoolFiles } from './segment';

export interface SpoolCounters extends CommitCounters, RefillCounters {
  readonly spilledEvents: CounterHandle;
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

const REAL_FILES: SpoolFiles = { open, unlink };
const NONE: readonly number[] = [];

export class Spool {
  private readonly segments: SegmentList;
  private readonly writer: SegmentWriter;
  private readonly refiller: Refill;
  private readonly ages = new UnloadedAges();
  private readonly owners = new RecordOwners<Segment>((segment, settled) => {
    segment.settled(settled);
    if (segment.inRing === 0) this.segments.deleteFinished();
  });

  /** Opens the spool directory and takes up the segments an earlier run left. */
  constructor(private readonly options: SpoolOptions) {
    const files = options.files ?? REAL_FILES;
    const { dir, log, ring, counters } = options;
    mkdirSync(dir, { recursive: true });
    this.segments = new SegmentList(dir, files, log);
    this.refiller = new Refill({
      ring,
      segments: this.segments,
      owners: this.owners,
      files,
      log,
      counters,
      deadLetterFile: options.deadLetterFile,
      onLoaded: options.onLoaded,
    });
    let lastId = 0;
    for (const { id, file } of segmentFilesIn(dir)) {
      const { size, mtimeMs } = statSync(file);
      const segment = this.segments.takeUp(id, file, size, this.refiller.countEntries(file, size));
      this.ages.leftByEarlierRun(segment, mtimeMs);
      lastId = id;
    }
    if (this.segments.count > 0) {
      const { count, bytes, unloadedEvents: events } = this.segments;
      log.info(
        { dir, segments: count, bytes, events },
        `the spool holds ${events} events in ${count} segments (${bytes} bytes) from an earlier run: replaying them alongside new traffic`,
      );
    }
    this.writer = new SegmentWriter({
      dir,
      segmentBytes: options.segmentBytes,
      commitMs: options.commitMs,
      files,
      log,
      counters,
      segments: this.segments,
      firstId: lastId + 1,
      afterCommit: () => this.refiller.run(),
    });
  }

  get bytes(): number {
    return this.segments.bytes;
  }

  get segmentCount(): number {
    return this.segments.count;
  }

  /**
   * Events on disk that Kinesis has not confirmed: loaded into the ring and not settled, or not
   * loaded yet (this run's, and the intact entries of an earlier run's segments not read yet).
   */
  get unconfirmedEvents(): number {
    return this.segments.eventsInRing + this.segments.unloadedEvents;
  }

  /** Events loaded (or appended) into the ring from the spool and not settled yet: on disk as well as in memory. */
  get eventsInRing(): number {
    return this.segments.eventsInRing;
  }

  /** Receipt time (about) of the oldest event not loaded into the ring yet; undefined when none waits. */
  get oldestUnloadedAt(): number | undefined {
    return this.ages.oldest;
  }

  /** Nothing is waiting in the spool for the ring: new events may go straight into the ring. */
  get caughtUp(): boolean {
    return this.segments.unloadedBytes === 0;
  }

  /** False after a failed write or sync, until a later commit is tried; such a commit is tried after a pause. */
  get writable(): boolean {
    return this.writer.writable;
  }

  /** Why the last commit failed, while the spool is failing. */
  get failureReason(): string | undefined {
    return this.writer.failureReason;
  }

  hasRoom(events: EnvelopeWriter): boolean {
    return this.segments.bytes + spooledBytes(events) <= this.options.maxBytes;
  }

  /**
   * Appends the planned events; `answer` is called once they are synced to disk (or with the
   * error that kept them from it). With `intoRing` they are also put into the ring now, and the
   * sequence number of the first is returned; the caller has checked that they fit.
   */
  append(events: EnvelopeWriter, intoRing: boolean, answer: (error?: Error) => void): number {
    const staging = this.writer.staging();
    const from = staging.used;
    const bytes = staging.add(events, answer, !intoRing);
    const segment = staging.segment;
    if (!intoRing) {
      segment.appendedSpilled(bytes, events.count);
      this.options.counters.spilledEvents.inc(events.count);
      this.ages.spilled(segment);
      return -1;
    }
    const ring = this.options.ring;
    const firstSeq = ring.nextSeq;
    for (let at = from; at < staging.used; ) {
      const record = at + ENTRY_HEADER_BYTES;
      at = record + copyIntoRing(ring, staging.bytes, record);
    }
    this.owners.assign(firstSeq, events.count, segment);
    segment.appendedIntoRing(bytes, events.count);
    return firstSeq;
  }

  /** Records of the ring were settled: the segments they came from may now be finished. Then more can be loaded. */
  settle(firstSeq: number, count: number): void {
    this.owners.settle(firstSeq, count, NONE);
    this.refill();
  }

  /** Reads segments from the load cursor into the ring while it has room. One pass runs at a time. */
  refill(): void {
    this.refiller.run();
  }

  /** Commits what is staged now, without waiting for the commit window. */
  async flush(): Promise<void> {
    await this.writer.flush();
  }

  /** Stops loading and closes the files; what is not settled stays on disk for the next start. */
  async close(): Promise<void> {
    this.refiller.stop();
    await this.writer.close();
    await this.segments.close();
  }
}
