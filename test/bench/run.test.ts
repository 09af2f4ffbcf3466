import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';

const RUN = path.join(__dirname, '..', '..', 'bench', 'run.js');

describe('bench command line', () => {
  it('runs each scenario as many times as --repetitions says, and sums the runs up', () => {
    const bench = spawnSync(process.execPath, [RUN, '--quick', '--only', 'bare', '--rate', '2000', '--repetitions', '2'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(bench.status, 0, bench.stderr);
    assert.deepEqual(bench.stderr.match(/^bare at 2000 req\/s #\d/gm), ['bare at 2000 req/s #1', 'bare at 2000 req/s #2']);
    assert.match(bench.stdout, /^bare: main thread [\d.]+ µs\/request ±[\d.]+%, [\d,]+ req\/s \(median of 2\)$/m);
  });

  for (const value of ['0', '-1', '2.5', 'three']) {
    it(`refuses --repetitions ${value} before running anything`, () => {
      const bench = spawnSync(process.execPath, [RUN, '--only', 'bare', '--repetitions', value], { encoding: 'utf8', timeout: 30_000 });
      assert.notEqual(bench.status, 0);
      assert.match(bench.stderr, new RegExp(`--repetitions needs a whole number of runs, at least 1, not ${value.replace('.', '\\.')}`));
      assert.doesNotMatch(bench.stderr, /bare at|bare #/);
    });
  }
});
