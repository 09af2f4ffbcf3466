// The spool against real files in a temporary directory, with a real ring; the shipper is played by
// the test, which settles the published batches when it chooses.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { EventSpans, scanEvents } from '../../src/events/json-scan';
import { Intake, intakeCounters, type Answer, type Durability } from '../../src/intake/intake';
import { StreamAcks } from '../../src/intake/stream-acks';
import type { Logger } from '../../src/log';
import { METRICS } from '../../src/metrics/metric-definitions';
import { SharedMetrics } from '../../src/metrics/shared-metrics';
import { createRingBuffer, RingViews } from '../../src/ring/ring-layout';
import { readBatch } from '../../src/ring/ring-reader';
import { RingWriter, type BatchDescriptor } from '../../src/ring/ring-writer';
import { Spool, spoolCounters, type SpoolFiles } from '../../src/spool/spool';
import { flipEntryByte, flipRecordByte, spoolEntries, tearTail } from '../support/spool-files';
import { until } from '../support/wait';
import { tempDir } from '../support/temp-dir';

const meta = { receivedAt: 1_700_000_000_000, ip: '198.51.100.1', userAgent: 'test', path: '/v1/events' };

class Harness {
  readonly metrics = new SharedMetrics();
  readonly published: BatchDescriptor[] = [];
  readonly ring: RingWriter;
  readonly spool: Spool;
  readonly intake: Intake;
  readonly answers: Answer[] = [];
  readonly shipped: number[] = [];
  /** What the spool logged, as pino's JSON lines. */
  readonly logs: { level: number; msg: string }[] = [];
  private readonly spans = new EventSpans();

  constructor(
    readonly dir: string,
    durability: Durability,
    ringBytes: number,
    spoolMaxBytes = 64 * 1024 * 1024,
    files?: SpoolFiles,
  ) {
    const buffer = createRingBuffer(ringBytes);
    this.ring = new RingWriter(buffer, { maxRecords: 10, maxBytes: ringBytes, lingerMs: 60_000 }, (b) => this.published.push(b));
    const m = this.metrics;
    this.spool = new Spool({
      dir,
      maxBytes: spoolMaxBytes,
      segmentBytes: 4096,
      commitMs: 2,
      ring: this.ring,
      log: this.logger(),
      counters: spoolCounters(m),
      deadLetterFile: path.join(dir, '..', 'dead-letter.ndjson'),
      files,
    });
    this.intake = new Intake({
      ring: this.ring,
      spool: this.spool,
      durability,
      acks: new StreamAcks(10_000, m.histogram(METRICS.ackWait)),
      keyRule: { kind: 'random' },
      counters: intakeCounters(m),
    });
  }

  take(seq: number, padBytes = 60): void {
    const body = Buffer.from(JSON.stringify({ seq, pad: 'x'.repeat(padBytes) }));
    scanEvents(body, 'json', 32, this.spans);
    this.intake.take(body, this.spans, meta, false, { onAnswer: (answer) => this.answers.push(answer) });
  }

  /** Plays the shipper: reads and settles every published batch until `count` events have shipped. */
  async shipAll(count: number): Promise<void> {
    await until(
      `${count} events have shipped (${this.shipped.length} so far)`,
      () => {
        this.ring.closeBatch();
        for (let batch = this.published.shift(); batch; batch = this.published.shift()) {
          for (const record of readBatch(new RingViews(this.ring.views.buffer), batch.start, batch.end)) {
            this.shipped.push(JSON.parse(Buffer.from(record.data).toString()).event.seq);
          }
          this.ring.release(batch);
          this.intake.settled(batch, []);
        }
        return this.shipped.length >= count;
      },
      10_000,
    );
  }

  answered(count: number): Promise<void> {
    return until(`${count} requests are answered (${this.answers.length} so far)`, () => this.answers.length >= count, 10_000);
  }

  private logger(): Logger {
    return pino({ level: 'info' }, { write: (line: string) => void this.logs.push(JSON.parse(line)) });
  }
}

/** The real file calls, except that every datasync of a segment waits until `release` is called. */
function heldDatasync(): { files: SpoolFiles; release: () => void; readonly pending: number } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const held = {
    files: {
      unlink,
      open: async (file: string, flags: string) => {
        const handle = await open(file, flags);
        if (flags !== 'wx') return handle;
        const datasync = handle.datasync.bind(handle);
        handle.datasync = async () => {
          held.pending++;
          await gate;
          held.pending--;
          return datasync();
        };
        return handle;
      },
    },
    release: () => release(),
    pending: 0,
  };
  return held;
}

function spoolDir(): string {
  return path.join(tempDir('spool-test-'), 'spool');
}

describe('spool', () => {
  for (const durability of ['disk', 'memory'] as const) {
    it(`${durability}: no request whose events go to the spool is answered before the datasync of their group commit returns`, async () => {
      // With disk every event is spooled; with memory the ring (4 KiB) takes about 20, the rest spill.
      const held = heldDatasync();
      const h = new Harness(spoolDir(), durability, durability === 'disk' ? 64 * 1024 : 4096, 64 * 1024 * 1024, held.files);
      for (let seq = 0; seq < 100; seq++) h.take(seq);
      await until('a group commit is in its datasync', () => held.pending > 0, 5000);
      const spilled = h.metrics.total(METRICS.spoolSpilled);
      const spooled = durability === 'disk' ? 100 : spilled;
      assert.ok(spooled > 50, `${spooled} events wait on the spool`);
      assert.equal(h.answers.length, 100 - spooled, 'only the events that went straight to the ring are answered while the datasync is pending');
      assert.ok(readdirSync(h.dir).length > 0, 'the commit got as far as its write');
      held.release();
      await h.answered(100);
      assert.ok(h.answers.every((a) => a.status === 202));
      await h.shipAll(100);
      await h.spool.close();
    });
  }

  it('overflow: what the ring cannot take is spilled to disk and comes back in order, once each', async () => {
    const h = new Harness(spoolDir(), 'memory', 4096);
    for (let seq = 0; seq < 300; seq++) h.take(seq);
    await h.answered(300);
    assert.ok(h.answers.every((a) => a.status === 202));
    assert.ok(h.metrics.total(METRICS.spoolSpilled) > 200, 'most events went to the spool: the ring holds about 20');
    await h.shipAll(300);
    assert.deepEqual(
      h.shipped,
      Array.from({ length: 300 }, (_, i) => i),
    );
    assert.ok(h.spool.caughtUp);
    await h.spool.close();
    assert.deepEqual(readdirSync(h.dir), [], 'every segment is deleted once its events are settled');
  });

  it('overflow stops at --spool-max-bytes with 503 buffer_full; nothing past it is acknowledged', async () => {
    const h = new Harness(spoolDir(), 'memory', 4096, 16 * 1024);
    let refused: (Error & { code?: string }) | undefined;
    let taken = 0;
    for (let seq = 0; seq < 1000 && !refused; seq++) {
      try {
        h.take(seq);
        taken++;
      } catch (err) {
        refused = err as Error;
      }
    }
    assert.equal(refused?.code, 'buffer_full');
    assert.ok(h.spool.bytes <= 16 * 1024, `the spool stays within its bound: ${h.spool.bytes} bytes`);
    await h.answered(taken);
    assert.ok(h.answers.every((a) => a.status === 202));
    await h.shipAll(taken);
    assert.deepEqual(
      h.shipped,
      Array.from({ length: taken }, (_, i) => i),
    );
    await h.spool.close();
  });

  it("an earlier run's segments are replayed, skipping only damaged entries", async () => {
    const dir = spoolDir();
    const first = new Harness(dir, 'disk', 64 * 1024);
    for (let seq = 0; seq < 100; seq++) {
      first.take(seq);
      if (seq % 10 === 9) await first.answered(seq + 1); // one commit per 10 events
    }
    assert.ok(first.answers.every((a) => a.status === 202));
    await first.spool.close(); // nothing was shipped: a crash now must lose nothing
    const { files: segments, entries } = spoolEntries(dir);
    assert.ok(segments.length >= 2, `the 4 KiB segment size rolls segments: ${segments.length}`);
    assert.equal(entries.length, 100);

    // Flip a byte inside entry 40, and cut the last entry short as a crash mid-write would.
    flipRecordByte(entries[40], 30, 0x01);
    tearTail(segments[segments.length - 1], 5);

    const second = new Harness(dir, 'disk', 64 * 1024);
    second.spool.refill();
    await second.shipAll(98);
    const expected = Array.from({ length: 100 }, (_, i) => i).filter((seq) => seq !== 40 && seq !== 99);
    assert.deepEqual(second.shipped, expected);
    assert.equal(second.metrics.total(METRICS.spoolCorrupt), 2);
    assert.equal(second.metrics.total(METRICS.spoolReplayed), 98);
    await second.spool.close();
    assert.deepEqual(readdirSync(dir), []);
  });

  it('a spool that cannot be written answers 503 instead of acknowledging, and recovers', async () => {
    const dir = spoolDir();
    const h = new Harness(dir, 'disk', 64 * 1024);
    rmSync(dir, { recursive: true }); // the segment file cannot be created
    h.take(0);
    await h.answered(1);
    assert.equal(h.answers[0].status, 503);
    assert.equal(h.answers[0].status === 503 && h.answers[0].error.code, 'spool_unavailable');
    assert.equal(h.spool.writable, false);
    assert.throws(
      () => h.take(1),
      (err: Error & { code?: string }) => err.code === 'spool_unavailable',
      'refused at once while failing',
    );
    mkdirSync(dir);
    await until('the pause before a commit is tried again has passed', () => h.spool.writable, 5000);
    h.take(2);
    await h.answered(2);
    assert.equal(h.answers[1].status, 202);
    assert.equal(h.spool.writable, true);
    await h.shipAll(2);
    assert.deepEqual(h.shipped, [0, 2], 'the refused event 0 was in the ring already: a duplicate at worst, never a loss');
    assert.equal(h.metrics.total(METRICS.spoolCommits), 2);
    await h.spool.close();
  });

  it('an event spooled before the ring was made smaller than it goes to the dead-letter file; the rest replay', async () => {
    const dir = spoolDir();
    const first = new Harness(dir, 'disk', 64 * 1024);
    first.take(0);
    first.take(1, 8000);
    first.take(2);
    await first.answered(3);
    await first.spool.close();

    const second = new Harness(dir, 'disk', 4096);
    second.spool.refill();
    await second.shipAll(2);
    assert.deepEqual(second.shipped, [0, 2]);
    const deadLetters = readFileSync(path.join(dir, '..', 'dead-letter.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.deepEqual(
      deadLetters.map((envelope) => envelope.event.seq),
      [1],
    );
    assert.equal(deadLetters[0].event.pad.length, 8000);
    assert.equal(second.metrics.total(METRICS.deadLettered), 1);
    await second.spool.close();
    assert.deepEqual(readdirSync(dir), [], 'its segment is deleted like any other');
  });
  it('keeps loading after a read fails while the ring is empty (no release would retry it)', async () => {
    const dir = spoolDir();
    const first = new Harness(dir, 'disk', 64 * 1024);
    for (let seq = 0; seq < 20; seq++) first.take(seq);
    await first.answered(20);
    await first.spool.close();

    let failures = 0;
    const second = new Harness(dir, 'disk', 64 * 1024, undefined, {
      unlink,
      async open(file: string, flags: string): Promise<FileHandle> {
        if (flags === 'r' && file.endsWith('.log') && failures++ === 0) throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
        return open(file, flags);
      },
    });
    second.spool.refill();
    await second.shipAll(20);
    assert.deepEqual(
      second.shipped,
      Array.from({ length: 20 }, (_, i) => i),
    );
    assert.equal(failures, 2, 'the failed read was tried again');
    assert.ok(
      second.logs.some((l) => /reading the spool failed/.test(l.msg)),
      'the failure is logged',
    );
    await second.spool.close();
    assert.deepEqual(readdirSync(dir), []);
  });

  it('a segment that cannot be deleted is logged and replayed at the next start: a duplicate, never a loss', async () => {
    const dir = spoolDir();
    const first = new Harness(dir, 'disk', 64 * 1024, undefined, {
      open,
      unlink: async () => {
        throw Object.assign(new Error('EACCES: permission denied, unlink'), { code: 'EACCES' });
      },
    });
    for (let seq = 0; seq < 10; seq++) first.take(seq);
    await first.answered(10);
    await first.shipAll(10);
    await first.spool.close();
    assert.equal(first.spool.bytes, 0, 'the spool no longer counts the settled segment');
    assert.ok(
      first.logs.some((l) => l.msg === 'cannot delete a finished spool segment'),
      'the failed delete is logged',
    );
    assert.equal(readdirSync(dir).length, 1, 'the file is still there');

    const second = new Harness(dir, 'disk', 64 * 1024);
    second.spool.refill();
    await second.shipAll(10);
    assert.deepEqual(
      second.shipped,
      Array.from({ length: 10 }, (_, i) => i),
    );
    assert.equal(second.metrics.total(METRICS.spoolReplayed), 10);
    await second.spool.close();
    assert.deepEqual(readdirSync(dir), []);
  });

  it('leaves files that are not its segments alone', async () => {
    const dir = spoolDir();
    mkdirSync(dir, { recursive: true });
    const foreign = ['README', 'segment-1.log', 'segment-000000000001.log.tmp', 'segment-00000000000x.log'];
    for (const name of foreign) writeFileSync(path.join(dir, name), 'not a segment');
    const h = new Harness(dir, 'disk', 64 * 1024);
    h.spool.refill();
    for (let seq = 0; seq < 10; seq++) h.take(seq);
    await h.answered(10);
    await h.shipAll(10);
    await h.spool.close();
    assert.deepEqual(
      h.shipped,
      Array.from({ length: 10 }, (_, i) => i),
    );
    assert.equal(h.metrics.total(METRICS.spoolCorrupt), 0, 'nothing was read from them');
    assert.deepEqual(readdirSync(dir).sort(), [...foreign].sort(), 'they are neither deleted nor replaced');
    for (const name of foreign) assert.equal(readFileSync(path.join(dir, name), 'utf8'), 'not a segment');
  });

  it('skips entries with a damaged marker, checksum, record length or key length, and a torn tail in a segment other than the last', async () => {
    const dir = spoolDir();
    const first = new Harness(dir, 'disk', 64 * 1024);
    for (let seq = 0; seq < 100; seq++) {
      first.take(seq);
      if (seq % 10 === 9) await first.answered(seq + 1);
    }
    await first.spool.close();
    const { files, entries } = spoolEntries(dir);
    const lastOfFirstSegment = entries.filter((e) => e.file === files[0]).length - 1;
    assert.ok(files.length >= 3 && lastOfFirstSegment >= 8, `${files.length} segments, ${lastOfFirstSegment + 1} entries in the first`);
    const damaged = [2, lastOfFirstSegment + 3, lastOfFirstSegment + 6, lastOfFirstSegment + 9, lastOfFirstSegment + 12];
    flipEntryByte(entries[damaged[0]], 0, 0xff); // the marker
    flipEntryByte(entries[damaged[1]], 5, 0x01); // the checksum
    flipEntryByte(entries[damaged[2]], 11, 0x01); // the record length's high byte: 16 MiB more than any record
    flipEntryByte(entries[damaged[3]], 8, 0x01); // the record length's low bit
    flipEntryByte(entries[damaged[4]], 13, 0x01); // the key length: longer than the record
    tearTail(files[0], 5); // the first segment's last entry, cut short
    assert.ok(existsSync(files[files.length - 1]));

    const second = new Harness(dir, 'disk', 64 * 1024);
    second.spool.refill();
    const lost = [...damaged, lastOfFirstSegment];
    await second.shipAll(100 - lost.length);
    assert.deepEqual(
      second.shipped,
      Array.from({ length: 100 }, (_, i) => i).filter((seq) => !lost.includes(seq)),
    );
    assert.equal(second.metrics.total(METRICS.spoolCorrupt), lost.length, 'one count per damaged entry');
    assert.equal(second.metrics.total(METRICS.spoolReplayed), 100 - lost.length);
    await second.spool.close();
    assert.deepEqual(readdirSync(dir), []);
  });
});
