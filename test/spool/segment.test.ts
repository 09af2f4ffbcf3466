// One spool segment on its own: its counters, the spool-wide totals it keeps in step, and its file
// (real files in a temporary directory).

import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Segment, SegmentTotals, type SpoolFiles } from '../../src/spool/segment';
import { tempDir } from '../support/temp-dir';

const files: SpoolFiles = { open, unlink };

function tempFile(): string {
  return path.join(tempDir('segment-test-'), 'segment-000000000001.log');
}

describe('spool segment', () => {
  it('keeps the spool-wide totals equal to its own counters through appends, loads and settles', () => {
    const totals = new SegmentTotals();
    const segment = new Segment(1, tempFile(), false, totals);
    segment.appendedIntoRing(100, 2);
    assert.deepEqual([segment.size, segment.loaded, segment.inRing, segment.unloadedEvents], [100, 100, 2, 0]);
    assert.deepEqual({ ...totals }, { bytes: 100, unloadedBytes: 0 }, 'events that went straight into the ring are not waiting for it');

    segment.appendedSpilled(300, 3);
    assert.deepEqual([segment.size, segment.loaded, segment.unloadedEvents], [400, 100, 3]);
    assert.deepEqual({ ...totals }, { bytes: 400, unloadedBytes: 300 });

    segment.recordLoaded();
    segment.recordLoaded();
    segment.consumed(200);
    assert.deepEqual([segment.loaded, segment.inRing, segment.unloadedEvents], [300, 4, 1]);
    assert.equal(totals.unloadedBytes, 100);
    assert.equal(segment.replayedEvents, 0, "this run's events are not replays");

    segment.settled(3);
    assert.equal(segment.inRing, 1);
  });

  it('counts no events as waiting once it is loaded whole, however many damaged entries were among them', () => {
    const totals = new SegmentTotals();
    const segment = new Segment(1, tempFile(), false, totals);
    segment.appendedSpilled(300, 3);
    segment.recordLoaded();
    segment.damageSkipped(); // two entries damaged on disk: never loaded, never given up
    segment.consumed(250);
    assert.equal(segment.unloadedEvents, 2, 'part of the file is still to be read');
    segment.consumed(50);
    assert.equal(segment.unloadedEvents, 0);
    assert.equal(segment.corruptEntries, 1);
    assert.equal(totals.unloadedBytes, 0);
  });

  it("an earlier run's segment starts closed and written, its intact entries waiting; loads count as replays", () => {
    const totals = new SegmentTotals();
    const segment = Segment.leftByEarlierRun(7, tempFile(), 500, 4, totals);
    assert.deepEqual([segment.id, segment.size, segment.written, segment.loaded, segment.unloadedEvents], [7, 500, 500, 0, 4]);
    assert.ok(segment.closed && segment.doneWriting && segment.fromEarlierRun);
    assert.deepEqual({ ...totals }, { bytes: 500, unloadedBytes: 500 });
    segment.recordLoaded();
    segment.recordGivenUp();
    assert.deepEqual([segment.unloadedEvents, segment.replayedEvents, segment.inRing], [2, 1, 1]);
  });

  it('is finished only when closed, without a commit in flight, synced, read whole and settled', async () => {
    const file = tempFile();
    const totals = new SegmentTotals();
    const segment = new Segment(1, file, false, totals);
    const bytes = Buffer.alloc(64, 1);
    segment.appendedSpilled(64, 1);
    const unfinished = (why: string): void => assert.equal(segment.finished, false, why);
    unfinished('open for appends');
    segment.close();
    segment.commitStarted();
    unfinished('a commit is in flight');
    await segment.write(files, bytes, 64, async () => undefined);
    segment.commitEnded();
    await segment.closeWriter();
    unfinished('not read');
    segment.recordLoaded();
    segment.consumed(64);
    unfinished('its record is in the ring');
    segment.settled(1);
    assert.equal(segment.finished, true);

    await segment.delete(files);
    assert.equal(existsSync(file), false);
    assert.equal(totals.bytes, 0, 'it left the totals');
  });

  it('creates its file on the first write only, writes after what is written, and reads at the load cursor', async () => {
    const file = tempFile();
    const segment = new Segment(1, file, false, new SegmentTotals());
    let created = 0;
    const onCreated = async (): Promise<void> => void created++;
    segment.appendedSpilled(10, 1);
    await segment.write(files, Buffer.from('0123456789'), 10, onCreated);
    segment.appendedSpilled(5, 1);
    await segment.write(files, Buffer.from('abcdeXYZ'), 5, onCreated);
    assert.equal(created, 1);
    assert.equal(segment.written, 15);
    assert.equal(readFileSync(file, 'utf8'), '0123456789abcde');

    const buffer = Buffer.alloc(32);
    segment.consumed(4);
    assert.equal(await segment.read(files, buffer, 6), 6);
    assert.equal(buffer.subarray(0, 6).toString(), '456789');
    await segment.closeFiles();
  });

  it('refuses to write over a file that exists already (a segment id is never reused)', async () => {
    const file = tempFile();
    writeFileSync(file, "an earlier run's bytes");
    const segment = new Segment(1, file, false, new SegmentTotals());
    await assert.rejects(
      segment.write(files, Buffer.from('new'), 3, async () => undefined),
      { code: 'EEXIST' },
    );
    assert.equal(readFileSync(file, 'utf8'), "an earlier run's bytes");
  });

  it('a failed write drops exactly its bytes: those already in the ring from loaded, the rest from the waiting ones', async () => {
    const file = tempFile();
    const totals = new SegmentTotals();
    const segment = new Segment(1, file, false, totals);
    segment.appendedIntoRing(10, 1);
    await segment.write(files, Buffer.alloc(10, 1), 10, async () => undefined);
    // One commit window: 20 bytes that went straight into the ring, then 30 spilled (2 events).
    segment.appendedIntoRing(20, 1);
    segment.appendedSpilled(30, 2);
    assert.deepEqual([segment.size, segment.loaded, totals.bytes, totals.unloadedBytes, segment.unloadedEvents], [60, 30, 60, 30, 2]);
    writeFileSync(file, Buffer.alloc(25, 2), { flag: 'a' }); // as if part of the failed write reached the file

    await segment.dropFailedWrite(50, 2);
    assert.deepEqual([segment.size, segment.written, segment.loaded, segment.unloadedEvents], [10, 10, 10, 0]);
    assert.deepEqual({ ...totals }, { bytes: 10, unloadedBytes: 0 });
    assert.equal(segment.inRing, 2, 'the records in the ring stay there: a duplicate at worst, never a loss');
    assert.equal(statSync(file).size, 10, 'the file is cut back to what was synced');
    await segment.closeFiles();
  });

  it("deletes no file it never wrote, and an earlier run's file always", async () => {
    const unlinked: string[] = [];
    const recording: SpoolFiles = { open, unlink: async (file) => void unlinked.push(file) };
    const neverWritten = new Segment(2, tempFile(), false, new SegmentTotals());
    neverWritten.close();
    await neverWritten.delete(recording);
    const earlier = Segment.leftByEarlierRun(3, tempFile(), 0, 0, new SegmentTotals());
    await earlier.delete(recording);
    assert.deepEqual(unlinked, [earlier.file]);
  });
});
