// What the spool says it still holds (the shutdown summary's "N events stay in the spool"), when an
// earlier run left segments that this run has not read yet. Real files and a real ring; the test
// plays the shipper.

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { EventSpans, scanEvents } from '../../src/events/json-scan';
import { Intake, intakeCounters, type Answer } from '../../src/intake/intake';
import { StreamAcks } from '../../src/intake/stream-acks';
import { METRICS } from '../../src/metrics/metric-definitions';
import { SharedMetrics } from '../../src/metrics/shared-metrics';
import { createRingBuffer } from '../../src/ring/ring-layout';
import { RingWriter, type BatchDescriptor } from '../../src/ring/ring-writer';
import { Spool, spoolCounters } from '../../src/spool/spool';
import { flipRecordByte, spoolEntries, tearTail } from '../support/spool-files';
import { until } from '../support/wait';
import { tempDir } from '../support/temp-dir';

const meta = { receivedAt: 1_700_000_000_000, ip: '198.51.100.1', userAgent: 'test', path: '/v1/events' };

/** A spool with --durability disk over a ring of `ringBytes`, publishing into `published`. */
function openSpool(dir: string, ringBytes: number) {
  const metrics = new SharedMetrics();
  const published: BatchDescriptor[] = [];
  const ring = new RingWriter(createRingBuffer(ringBytes), { maxRecords: 10, maxBytes: ringBytes, lingerMs: 60_000 }, (b) => published.push(b));
  const logs: { msg: string; events?: number }[] = [];
  const spool = new Spool({
    dir,
    maxBytes: 64 * 1024 * 1024,
    segmentBytes: 4096,
    commitMs: 2,
    ring,
    log: pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) }),
    counters: spoolCounters(metrics),
    deadLetterFile: path.join(dir, '..', 'dead-letter.ndjson'),
  });
  const intake = new Intake({
    ring,
    spool,
    durability: 'disk',
    acks: new StreamAcks(10_000, metrics.histogram(METRICS.ackWait)),
    keyRule: { kind: 'random' },
    counters: intakeCounters(metrics),
  });
  /** Settles the batches published so far; returns how many events they held. */
  const settlePublished = (): number => {
    ring.closeBatch();
    let events = 0;
    for (let batch = published.shift(); batch; batch = published.shift()) {
      events += batch.count;
      ring.release(batch);
      intake.settled(batch, []);
    }
    return events;
  };
  return { spool, intake, ring, logs, metrics, settlePublished };
}

describe('spool: events left unconfirmed', () => {
  it("counts the events of an earlier run's segments that are not read yet, damaged entries left out", async () => {
    const dir = path.join(tempDir('spool-unconfirmed-'), 'spool');
    const first = openSpool(dir, 64 * 1024);
    const answers: Answer[] = [];
    const spans = new EventSpans();
    for (let seq = 0; seq < 200; seq++) {
      const body = Buffer.from(JSON.stringify({ seq, pad: 'x'.repeat(60) }));
      scanEvents(body, 'json', 32, spans);
      first.intake.take(body, spans, meta, false, { onAnswer: (answer) => answers.push(answer) });
      if (seq % 10 === 9) await until(`${seq + 1} answers`, () => answers.length === seq + 1, 10_000);
    }
    assert.ok(answers.every((a) => a.status === 202));
    assert.equal(first.spool.unconfirmedEvents, 200, 'this run counts its own events');
    await first.spool.close(); // nothing shipped: everything stays for the next start
    const { files, entries } = spoolEntries(dir);
    assert.ok(files.length >= 5, `the 4 KiB segment size rolls segments: ${files.length}`);
    assert.equal(entries.length, 200);
    flipRecordByte(entries[30], 30, 0x01); // a damaged entry, never replayed
    tearTail(files[files.length - 1], 5); // the last entry cut short by a crash

    // The next start, with a ring that holds about 20 of the 198 intact events at a time.
    const second = openSpool(dir, 4096);
    assert.equal(second.spool.unconfirmedEvents, 198, 'before anything is read');
    assert.ok(
      second.logs.some((l) => l.events === 198 && /holds 198 events in \d+ segments/.test(l.msg)),
      'the start-up line says how many events',
    );
    second.spool.refill();
    await until('the ring has taken some', () => second.spool.eventsInRing > 0 && !second.ring.isEmpty, 10_000);
    assert.ok(second.spool.eventsInRing < 100, `only part is in the ring (${second.spool.eventsInRing})`);
    assert.equal(second.spool.unconfirmedEvents, 198, 'in the ring or not read yet, all are counted');
    let shipped = 0;
    await until(
      'every event has shipped',
      async () => {
        shipped += second.settlePublished();
        if (shipped < 198) assert.equal(second.spool.unconfirmedEvents, 198 - shipped, `after ${shipped} settled`);
        return shipped === 198;
      },
      10_000,
    );
    assert.equal(second.spool.unconfirmedEvents, 0);
    assert.equal(second.metrics.total(METRICS.spoolReplayed), 198);
    await second.spool.close();
    assert.deepEqual(readdirSync(dir), []);
  });
});
