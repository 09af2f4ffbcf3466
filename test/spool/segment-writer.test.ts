// The spool's segment writer on its own: group commits and rolling segments, against real files in
// a temporary directory. The test appends as the spool does on overflow (spilled events).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { EnvelopeWriter } from '../../src/events/envelope';
import { EventSpans, scanEvents } from '../../src/events/json-scan';
import { METRICS } from '../../src/metrics/metric-definitions';
import { SharedMetrics } from '../../src/metrics/shared-metrics';
import { dataOffset } from '../../src/ring/ring-layout';
import type { SpoolFiles } from '../../src/spool/segment';
import { SegmentList } from '../../src/spool/segment-list';
import { SegmentWriter } from '../../src/spool/segment-writer';
import { spoolCounters } from '../../src/spool/spool';
import { checkEntry, ENTRY_HEADER_BYTES } from '../../src/spool/spool-format';
import { spoolEntries } from '../support/spool-files';
import { until } from '../support/wait';
import { tempDir } from '../support/temp-dir';

const meta = { receivedAt: 1_700_000_000_000, ip: '198.51.100.1', userAgent: 'test', path: '/v1/events' };

class Harness {
  readonly dir = tempDir('segment-writer-test-');
  readonly metrics = new SharedMetrics();
  readonly segments: SegmentList;
  readonly writer: SegmentWriter;
  readonly answers: (Error | undefined)[] = [];
  datasyncs = 0;
  commitsEnded = 0;
  private readonly events = new EnvelopeWriter();
  private readonly spans = new EventSpans();

  constructor(segmentBytes: number, commitMs: number) {
    const log = pino({ level: 'silent' });
    const files: SpoolFiles = {
      unlink,
      open: async (file: string, flags: string) => {
        const handle = await open(file, flags);
        const datasync = handle.datasync.bind(handle);
        handle.datasync = async () => {
          this.datasyncs++;
          return datasync();
        };
        return handle;
      },
    };
    this.segments = new SegmentList(this.dir, files, log);
    this.writer = new SegmentWriter({
      dir: this.dir,
      segmentBytes,
      commitMs,
      files,
      log,
      counters: spoolCounters(this.metrics),
      segments: this.segments,
      firstId: 5,
      afterCommit: () => this.commitsEnded++,
    });
  }

  /** Stages one event of about `padBytes`, as the spool does for an event the ring cannot take. */
  append(seq: number, padBytes = 60): void {
    const body = Buffer.from(JSON.stringify({ seq, pad: 'x'.repeat(padBytes) }));
    scanEvents(body, 'json', 32, this.spans);
    this.events.plan(body, this.spans, meta, 1024 * 1024);
    const staging = this.writer.staging();
    const bytes = staging.add(this.events, (error) => this.answers.push(error), true);
    staging.segment.appendedSpilled(bytes, this.events.count);
  }

  /** The events in the segment files, in order, each entry checked whole. */
  spooledSeqs(): number[] {
    return spoolEntries(this.dir).entries.map(({ file, at }) => {
      const bytes = readFileSync(file);
      const check = checkEntry(bytes, at, bytes.length);
      assert.ok(check.kind === 'entry', `the entry at ${at} of ${file} is intact`);
      const record = at + ENTRY_HEADER_BYTES;
      return JSON.parse(bytes.subarray(dataOffset(record, check.keyBytes), record + check.recordBytes).toString()).event.seq;
    });
  }
}

describe('spool segment writer', () => {
  it('writes what one commit window staged with one write and one datasync, and answers only then', async () => {
    const h = new Harness(1024 * 1024, 200);
    for (let seq = 0; seq < 50; seq++) h.append(seq);
    assert.equal(h.answers.length, 0, 'nothing is answered before its commit');
    await until('the commit window closed and its commit answered', () => h.answers.length === 50, 5000);
    assert.ok(h.answers.every((error) => error === undefined));
    assert.equal(h.metrics.total(METRICS.spoolCommits), 1);
    assert.equal(h.datasyncs, 1);
    assert.equal(h.commitsEnded, 1, 'the loader is told once per commit');
    assert.deepEqual(
      h.spooledSeqs(),
      Array.from({ length: 50 }, (_, i) => i),
    );
    await h.writer.close();
  });

  it('grows the staging buffer for a window of more than 64 KiB, and every entry reaches the disk intact', async () => {
    const h = new Harness(64 * 1024 * 1024, 1000);
    for (let seq = 0; seq < 100; seq++) h.append(seq, 2000);
    assert.ok(h.segments.bytes > 200 * 1024, `${h.segments.bytes} bytes staged`);
    await h.writer.flush();
    assert.equal(h.answers.length, 100);
    assert.equal(h.datasyncs, 1);
    assert.deepEqual(
      h.spooledSeqs(),
      Array.from({ length: 100 }, (_, i) => i),
    );
    await h.writer.close();
  });

  it('rolls to a new segment once the active one reaches --spool-segment-bytes, numbering on from the first id', async () => {
    const h = new Harness(1024, 1000);
    for (let seq = 0; seq < 40; seq++) {
      h.append(seq);
      if (seq % 4 === 3) await h.writer.flush(); // a commit window per 4 events: a segment rolls only between windows
    }
    await h.writer.close();
    const names = spoolEntries(h.dir).files.map((file) => path.basename(file));
    assert.ok(names.length >= 3, `${names.length} segments`);
    assert.deepEqual(
      names,
      names.map((_, i) => `segment-${String(5 + i).padStart(12, '0')}.log`),
    );
    assert.deepEqual(
      h.spooledSeqs(),
      Array.from({ length: 40 }, (_, i) => i),
    );
    assert.equal(h.answers.length, 40);
  });
});
