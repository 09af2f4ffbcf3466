// The spool against real files in a temporary directory, with a real ring; the shipper is played by
// the test, which settles the published batches when it chooses.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventSpans, scanEvents } from '../../src/events/json-scan';
import { Intake, intakeCounters, type Answer, type Durability } from '../../src/intake/intake';
import { StreamAcks } from '../../src/intake/stream-acks';
import { createLogger } from '../../src/log';
import { METRICS } from '../../src/metrics/metric-definitions';
import { SharedMetrics } from '../../src/metrics/shared-metrics';
import { createRingBuffer, RingViews } from '../../src/ring/ring-layout';
import { readBatch } from '../../src/ring/ring-reader';
import { RingWriter, type BatchDescriptor } from '../../src/ring/ring-writer';
import { Spool, spoolCounters } from '../../src/spool/spool';
import { flipRecordByte, spoolEntries, tearTail } from '../support/spool-files';

const meta = { receivedAt: 1_700_000_000_000, ip: '198.51.100.1', userAgent: 'test', path: '/v1/events' };

class Harness {
  readonly metrics = new SharedMetrics();
  readonly published: BatchDescriptor[] = [];
  readonly ring: RingWriter;
  readonly spool: Spool;
  readonly intake: Intake;
  readonly answers: Answer[] = [];
  readonly shipped: number[] = [];
  private readonly spans = new EventSpans();

  constructor(readonly dir: string, durability: Durability, ringBytes: number, spoolMaxBytes = 64 * 1024 * 1024) {
    const buffer = createRingBuffer(ringBytes);
    this.ring = new RingWriter(buffer, { maxRecords: 10, maxBytes: ringBytes, lingerMs: 60_000 }, (b) => this.published.push(b));
    const m = this.metrics;
    this.spool = new Spool({
      dir, maxBytes: spoolMaxBytes, segmentBytes: 4096, commitMs: 2, ring: this.ring, log: createLogger('silent'),
      counters: spoolCounters(m), deadLetterFile: path.join(dir, '..', 'dead-letter.ndjson'),
    });
    this.intake = new Intake({
      ring: this.ring, spool: this.spool, durability, acks: new StreamAcks(10_000, m.histogram(METRICS.ackWait)), keyRule: { kind: 'random' },
      counters: intakeCounters(m),
    });
  }

  take(seq: number, padBytes = 60): void {
    const body = Buffer.from(JSON.stringify({ seq, pad: 'x'.repeat(padBytes) }));
    scanEvents(body, 'json', 32, this.spans);
    this.intake.take(body, this.spans, meta, false, (answer) => this.answers.push(answer));
  }

  /** Plays the shipper: reads and settles every published batch, until nothing more comes. */
  async shipAll(): Promise<void> {
    for (let quiet = 0; quiet < 20; ) {
      this.ring.closeBatch();
      const batch = this.published.shift();
      if (!batch) {
        quiet++;
        await sleep(10);
        continue;
      }
      quiet = 0;
      for (const record of readBatch(new RingViews(this.ring.views.buffer), batch.start, batch.end)) {
        this.shipped.push(JSON.parse(Buffer.from(record.data).toString()).event.seq);
      }
      this.ring.release(batch);
      this.intake.settled(batch, []);
    }
  }

  async answered(count: number): Promise<void> {
    while (this.answers.length < count) await sleep(5);
  }
}

function tempDir(): string {
  return path.join(mkdtempSync(path.join(os.tmpdir(), 'spool-test-')), 'spool');
}


describe('spool', () => {
  it('overflow: what the ring cannot take is spilled to disk and comes back in order, once each', async () => {
    const h = new Harness(tempDir(), 'memory', 4096);
    for (let seq = 0; seq < 300; seq++) h.take(seq);
    await h.answered(300);
    assert.ok(h.answers.every((a) => a.status === 202));
    assert.ok(h.metrics.total(METRICS.spoolSpilled) > 200, 'most events went to the spool: the ring holds about 20');
    await h.shipAll();
    assert.deepEqual(h.shipped, Array.from({ length: 300 }, (_, i) => i));
    assert.ok(h.spool.caughtUp);
    await h.spool.close();
    assert.deepEqual(readdirSync(h.dir), [], 'every segment is deleted once its events are settled');
  });

  it('overflow stops at --spool-max-bytes with 503 buffer_full; nothing past it is acknowledged', async () => {
    const h = new Harness(tempDir(), 'memory', 4096, 16 * 1024);
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
    await h.shipAll();
    assert.deepEqual(h.shipped, Array.from({ length: taken }, (_, i) => i));
    await h.spool.close();
  });

  it('disk durability: every event is synced before its answer, and an earlier run\'s segments are replayed, skipping only damaged entries', async () => {
    const dir = tempDir();
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
    await second.shipAll();
    const expected = Array.from({ length: 100 }, (_, i) => i).filter((seq) => seq !== 40 && seq !== 99);
    assert.deepEqual(second.shipped, expected);
    assert.equal(second.metrics.total(METRICS.spoolCorrupt), 2);
    assert.equal(second.metrics.total(METRICS.spoolReplayed), 98);
    await second.spool.close();
    assert.deepEqual(readdirSync(dir), []);
  });

  it('a spool that cannot be written answers 503 instead of acknowledging, and recovers', async () => {
    const dir = tempDir();
    const h = new Harness(dir, 'disk', 64 * 1024);
    rmSync(dir, { recursive: true }); // the segment file cannot be created
    h.take(0);
    await h.answered(1);
    assert.equal(h.answers[0].status, 503);
    assert.equal(h.answers[0].status === 503 && h.answers[0].error.code, 'spool_unavailable');
    assert.equal(h.spool.writable, false);
    assert.throws(() => h.take(1), (err: Error & { code?: string }) => err.code === 'spool_unavailable', 'refused at once while failing');
    mkdirSync(dir);
    await sleep(1100); // the pause before a commit is tried again
    h.take(2);
    await h.answered(2);
    assert.equal(h.answers[1].status, 202);
    assert.equal(h.spool.writable, true);
    await h.shipAll();
    assert.deepEqual(h.shipped, [0, 2], 'the refused event 0 was in the ring already: a duplicate at worst, never a loss');
    assert.equal(h.metrics.total(METRICS.spoolCommits), 2);
    await h.spool.close();
  });

  it('an event spooled before the ring was made smaller than it goes to the dead-letter file; the rest replay', async () => {
    const dir = tempDir();
    const first = new Harness(dir, 'disk', 64 * 1024);
    first.take(0);
    first.take(1, 8000);
    first.take(2);
    await first.answered(3);
    await first.spool.close();

    const second = new Harness(dir, 'disk', 4096);
    second.spool.refill();
    await second.shipAll();
    assert.deepEqual(second.shipped, [0, 2]);
    const deadLetters = readFileSync(path.join(dir, '..', 'dead-letter.ndjson'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    assert.deepEqual(deadLetters.map((envelope) => envelope.event.seq), [1]);
    assert.equal(deadLetters[0].event.pad.length, 8000);
    assert.equal(second.metrics.total(METRICS.deadLettered), 1);
    await second.spool.close();
    assert.deepEqual(readdirSync(dir), [], 'its segment is deleted like any other');
  });
});
