// Loading the spool back into the ring: segments are read from the load cursor, oldest first, while
// the ring has room, so that memory stays bounded by the ring and one read buffer. Damaged bytes
// are skipped and counted; an event too large for the whole ring (spooled before --ring-bytes was
// lowered) would wait forever, so it goes to the dead-letter file instead.

import { closeSync, openSync, readSync } from 'node:fs';
import { receivedAtOf } from '../events/envelope';
import type { Logger } from '../log';
import type { CounterHandle } from '../metrics/shared-metrics';
import type { RecordOwners } from '../ring/record-owners';
import { dataOffset, KEY_LENGTH_OFFSET, RECORD_HEADER_BYTES, RECORD_LENGTH_OFFSET } from '../ring/ring-layout';
import type { RingWriter } from '../ring/ring-writer';
import { appendDeadLetters } from '../shipper/shared/dead-letter';
import type { Segment, SpoolFiles } from './segment';
import type { SegmentList } from './segment-list';
import { checkEntry, ENTRY_HEADER_BYTES, MAX_SPOOLED_RECORD_BYTES, nextMarker } from './spool-format';

/** After a failed read, the next is tried this long later. */
const RETRY_AFTER_FAILURE_MS = 1000;
const READ_BUFFER_BYTES = 2 * (MAX_SPOOLED_RECORD_BYTES + ENTRY_HEADER_BYTES);

export interface RefillCounters {
  readonly replayedEvents: CounterHandle;
  readonly corruptEntries: CounterHandle;
  /** Events given up because they can never fit the ring (counted as `refused` dead letters). */
  readonly deadLettered: CounterHandle;
}

export interface RefillOptions {
  readonly ring: RingWriter;
  readonly segments: SegmentList;
  /** Which segment each ring record came from, so that the segment learns when they settle. */
  readonly owners: RecordOwners<Segment>;
  readonly files: SpoolFiles;
  readonly log: Logger;
  readonly counters: RefillCounters;
  readonly deadLetterFile: string;
  /** A record was loaded from disk into the ring. */
  readonly onLoaded?: (seq: number, receivedAt: number) => void;
}

/** Copies one record (ring layout, at `record` in `bytes`) into the ring; returns its size. The caller has checked that it fits. */
export function copyIntoRing(ring: RingWriter, bytes: Buffer, record: number): number {
  const size = bytes.readUInt32LE(record + RECORD_LENGTH_OFFSET);
  const keyBytes = bytes.readUInt16LE(record + KEY_LENGTH_OFFSET);
  const at = ring.reserve(size, keyBytes);
  ring.bytes.set(bytes.subarray(record + RECORD_HEADER_BYTES, record + size), at + RECORD_HEADER_BYTES);
  return size;
}

export class Refill {
  private running = false;
  private runAgain = false;
  private stopped = false;
  private readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private readonly oneSize: number[] = [0];

  constructor(private readonly options: RefillOptions) {}

  /** Reads segments from the load cursor into the ring while it has room. One pass runs at a time. */
  run(): void {
    if (this.stopped) return;
    if (this.running) {
      this.runAgain = true;
      return;
    }
    this.running = true;
    this.loadFromDisk()
      .catch((err: Error) => {
        // A release or a commit would try again, but with the ring empty and no traffic none comes.
        this.options.log.error({ err: err.message }, `reading the spool failed; retrying in ${RETRY_AFTER_FAILURE_MS} ms`);
        setTimeout(() => this.run(), RETRY_AFTER_FAILURE_MS).unref();
      })
      .finally(() => {
        this.running = false;
        if (this.runAgain) {
          this.runAgain = false;
          this.run();
        }
      });
  }

  /** No more loading: what is not loaded stays on disk for the next start. */
  stop(): void {
    this.stopped = true;
  }

  /**
   * The intact entries of a segment file, judged as loading will judge them (a damaged stretch or a
   * torn tail is not counted), so that what the spool holds can be told in events before it is
   * read. One pass over the file at start-up, through the read buffer.
   */
  countEntries(file: string, size: number): number {
    const bytes = this.readBuffer;
    const fd = openSync(file, 'r');
    let entries = 0;
    try {
      for (let position = 0; position < size; ) {
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

  private async loadFromDisk(): Promise<void> {
    const { segments, files } = this.options;
    for (;;) {
      this.runAgain = false;
      const segment = segments.firstUnloaded();
      if (!segment || segment.loaded >= segment.written || this.stopped) return;
      const bytesRead = await segment.read(files, this.readBuffer, Math.min(this.readBuffer.length, segment.written - segment.loaded));
      // Nothing more will be written to it: a last entry cut short is a torn tail, not a wait.
      const final = segment.doneWriting && segment.loaded + bytesRead === segment.size;
      const { consumed, ringFull } = this.loadEntries(segment, bytesRead, final);
      segment.consumed(consumed);
      if (segment.loaded === segment.size && segment.fromEarlierRun) this.reportReplayed(segment);
      segments.deleteFinished();
      if (ringFull || (consumed === 0 && !this.runAgain)) return;
    }
  }

  /** Loads whole entries from the read buffer into the ring; damaged bytes are skipped and counted. */
  private loadEntries(segment: Segment, end: number, final: boolean): { consumed: number; ringFull: boolean } {
    const bytes = this.readBuffer;
    const { ring, owners, counters, onLoaded } = this.options;
    let at = 0;
    let inDamagedStretch = false; // one count per stretch of damage, however many markers it holds
    while (at < end) {
      const check = checkEntry(bytes, at, end);
      if (check.kind === 'incomplete' && !final) break;
      if (check.kind !== 'entry') {
        if (!inDamagedStretch) {
          inDamagedStretch = true;
          segment.damageSkipped();
          counters.corruptEntries.inc();
        }
        at = nextMarker(bytes, at, end);
        continue;
      }
      inDamagedStretch = false;
      const record = at + ENTRY_HEADER_BYTES;
      if (check.recordBytes > ring.capacity) {
        segment.recordGivenUp();
        this.giveUp(bytes.subarray(dataOffset(record, check.keyBytes), record + check.recordBytes), check.recordBytes);
        at = record + check.recordBytes;
        continue;
      }
      this.oneSize[0] = check.recordBytes;
      if (!ring.fits(this.oneSize)) return { consumed: at, ringFull: true };
      const seq = ring.nextSeq;
      copyIntoRing(ring, bytes, record);
      owners.assign(seq, 1, segment);
      segment.recordLoaded();
      onLoaded?.(seq, receivedAtOf(bytes.subarray(dataOffset(record, check.keyBytes), record + check.recordBytes)));
      if (segment.fromEarlierRun) counters.replayedEvents.inc();
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

  private reportReplayed(segment: Segment): void {
    const fields = { segment: segment.file, events: segment.replayedEvents, corruptEntries: segment.corruptEntries };
    const replayed = `replayed ${segment.file}: ${segment.replayedEvents} events`;
    if (segment.corruptEntries > 0) this.options.log.warn(fields, `${replayed}; skipped ${segment.corruptEntries} damaged or torn entries`);
    else this.options.log.info(fields, replayed);
  }
}
