import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { METRICS } from '../../src/metrics/metric-definitions';
import { SharedMetrics } from '../../src/metrics/shared-metrics';
import { REJECT_BODY_BYTES, REJECT_FILES, rejectsFileOf, type Rejected } from '../../src/rejects/rejects-file';
import { tempDir } from '../support/temp-dir';

const MiB = 1024 * 1024;

function setup(perSecond: number, maxBytes = MiB) {
  const file = path.join(tempDir('rejects-'), 'rejects.ndjson');
  const metrics = new SharedMetrics();
  const rejects = rejectsFileOf({ rejectsFile: file, rejectsMaxBytes: maxBytes, rejectsPerSecond: perSecond }, metrics)!;
  const count = (outcome: string) => metrics.samples(METRICS.rejectsFile).find((s) => s.labels.outcome === outcome)!.value;
  const lines = (name = file) =>
    readFileSync(name, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line));
  return { file, rejects, count, lines };
}

const malformed = (body: string | Uint8Array): Rejected => ({
  reason: 'malformed_json',
  message: 'event 0: bad',
  route: '/v1/events',
  ip: '203.0.113.0',
  userAgent: 'ua',
  body: typeof body === 'string' ? Buffer.from(body) : body,
});

describe('the rejects file', () => {
  it('is off unless --rejects-file is set', () => {
    assert.equal(rejectsFileOf({ rejectsMaxBytes: MiB, rejectsPerSecond: 1 }, new SharedMetrics()), undefined);
  });

  it("keeps a refusal's reason, time, route, address and body in base64", async () => {
    const { rejects, lines, count } = setup(10);
    rejects.keep(malformed('{"a":\u00e9'), Date.parse('2026-01-02T03:04:05.000Z'));
    await rejects.drained();
    assert.deepEqual(lines(), [
      {
        reason: 'malformed_json',
        message: 'event 0: bad',
        time: '2026-01-02T03:04:05.000Z',
        route: '/v1/events',
        ip: '203.0.113.0',
        ua: 'ua',
        bytes: 7,
        truncated: false,
        body: Buffer.from('{"a":\u00e9').toString('base64'),
      },
    ]);
    assert.equal(count('kept'), 1);
  });

  it('truncates a long body and says how long it was', async () => {
    const { rejects, lines } = setup(10);
    rejects.keep(malformed(Buffer.alloc(REJECT_BODY_BYTES + 100, 0x61)), Date.now());
    await rejects.drained();
    const [line] = lines();
    assert.equal(line.bytes, REJECT_BODY_BYTES + 100);
    assert.equal(line.truncated, true);
    assert.equal(Buffer.from(line.body, 'base64').length, REJECT_BODY_BYTES);
  });

  it('counts but does not keep key, origin, rate and overload refusals', async () => {
    const { file, rejects, count } = setup(10);
    for (const reason of ['missing_write_key', 'unknown_write_key', 'origin_not_allowed', 'rate_limited', 'buffer_full', 'draining'] as const) {
      rejects.keep({ ...malformed('x'), reason }, Date.now());
    }
    await rejects.drained();
    assert.equal(existsSync(file), false);
    assert.equal(count('kept') + count('rate_limited'), 0);
  });

  it('keeps at most --rejects-per-second, and counts the rest', async () => {
    const { rejects, lines, count } = setup(5);
    const now = Date.now();
    for (let i = 0; i < 20; i++) rejects.keep(malformed(`{${i}`), now);
    rejects.keep(malformed('{later'), now + 1000);
    await rejects.drained();
    assert.equal(lines().length, 6);
    assert.equal(count('kept'), 6);
    assert.equal(count('rate_limited'), 15);
  });

  it('rotates over its files and never holds more than --rejects-max-bytes', async () => {
    const { file, rejects, lines } = setup(100_000, MiB);
    writeFileSync(file, ''); // an earlier run's file is appended to
    let now = Date.now();
    for (let i = 0; i < 400; i++) {
      now += 1;
      rejects.keep(malformed(Buffer.alloc(REJECT_BODY_BYTES, 0x30 + (i % 10))), now);
      if (i % 50 === 0) await rejects.drained();
    }
    await rejects.drained();
    const names = [file, ...Array.from({ length: REJECT_FILES - 1 }, (_, i) => `${file}.${i + 1}`)];
    const total = names.reduce((sum, name) => sum + statSync(name).size, 0);
    assert.ok(total <= MiB, `${total} bytes on disk`);
    assert.ok(total > MiB / 2, `the files are used: ${total} bytes`);
    assert.equal(existsSync(`${file}.${REJECT_FILES}`), false);
    // The newest refusals are in the current file, the older ones in the rotated files.
    assert.ok(lines(file).every((l) => Date.parse(l.time) >= Date.parse(lines(`${file}.1`).at(-1)!.time)));
  });
});
