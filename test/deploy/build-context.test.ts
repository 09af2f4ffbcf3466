// The Docker build context that deploy/check-image.sh stages before it runs the image's install
// script: the checkout less what .dockerignore excludes, by Docker's rules. Run through the
// script's own `--list-context`, on a made-up tree and on this repository.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../support/temp-dir';
import { read, ROOT } from './artefacts';

const SCRIPT = path.join(ROOT, 'deploy', 'check-image.sh');

function listContext(dir: string): string[] {
  return execFileSync('bash', [SCRIPT, '--list-context', dir], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

describe('deploy/check-image.sh --list-context', () => {
  function tree(dockerignore: string, files: string[]): string {
    const dir = tempDir('build-context-');
    writeFileSync(path.join(dir, '.dockerignore'), dockerignore);
    for (const file of files) {
      mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      writeFileSync(path.join(dir, file), file);
    }
    return dir;
  }

  it('applies the pattern forms .dockerignore uses, as Docker does', () => {
    const dir = tree(['# a comment', '**/node_modules', '*.log', 'bench', 'deploy/aws', '/dist/', 'src/**/*.test.ts', '?.tmp', '  docs  ', ''].join('\n'), [
      'package.json',
      'node_modules/a/index.js', // **/node_modules at the top
      'src/node_modules/b.js', // and below it
      'top.log', // *.log: at the top only
      'src/deep.log',
      'bench/run.ts', // a directory, with all it holds
      'benchmarks.md', // not a prefix match
      'deploy/aws/lib/stack.ts',
      'deploy/awsome.txt',
      'deploy/image/install.sh',
      'dist/a.js', // /dist/: the top-level one
      'src/dist/b.js',
      'src/a.test.ts', // src/**/*.test.ts: ** spans no segment or several
      'src/x/y/b.test.ts',
      'src/a.ts',
      'a.tmp', // ?: one character, within a segment
      'ab.tmp',
      'docs/index.md', // surrounding spaces trimmed
    ]);
    assert.deepEqual(listContext(dir).sort(), [
      '.dockerignore',
      'ab.tmp',
      'benchmarks.md',
      'deploy/awsome.txt',
      'deploy/image/install.sh',
      'package.json',
      'src/a.ts',
      'src/deep.log',
      'src/dist/b.js',
    ]);
  });

  it('refuses a pattern whose rules it does not implement, rather than apply it wrongly', () => {
    for (const pattern of ['!keep.log', 'file[0-9]', 'a\\*b']) {
      const dir = tree(`*.log\n${pattern}\n`, ['a.log']);
      const run = spawnSync('bash', [SCRIPT, '--list-context', dir], { encoding: 'utf8' });
      assert.notEqual(run.status, 0, pattern);
      assert.match(run.stderr, /does not implement/, pattern);
    }
  });

  it('gives, for this repository, everything the image build reads and none of the rest', () => {
    const context = new Set(listContext(ROOT));
    // From the file system, not git: CI's modern path runs in a copy of the checkout without .git.
    const sources = readdirSync(path.join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })
      .map((file) => `src/${file}`)
      .filter((file) => statSync(path.join(ROOT, file)).isFile());
    assert.ok(sources.length > 20);
    for (const file of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'deploy/image/install.sh',
      'deploy/image/tsconfig.json',
      'deploy/image/healthcheck.js',
      ...sources,
    ]) {
      assert.ok(context.has(file), `${file} is in the build context`);
    }
    for (const file of context)
      assert.doesNotMatch(file, /^(test|bench|docs|grafana|deploy\/(aws|kubernetes|compose))\/|(^|\/)(node_modules|dist)\/|^\.git\//, file);
    assert.ok(read('Dockerfile').includes('COPY . .'), 'the build stage copies the whole context');
  });
});
