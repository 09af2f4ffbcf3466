// Every source path the README and docs/ name must exist: a file moved or renamed without its docs
// fails here. Build outputs (dist/src/…) are not sources and are left alone.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

const ROOT = path.join(__dirname, '..', '..');
const DOCS = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];
/** src/ followed by path characters, not part of a longer path such as dist/src/. */
const SOURCE_PATH = /(?<![\w./-])src\/[\w./-]*[\w/]/g;

function sourcePathsIn(text: string): string[] {
  return [...new Set(text.match(SOURCE_PATH) ?? [])];
}

describe('source paths in the README and docs/', () => {
  it('are found by the pattern, and build outputs are not', () => {
    assert.deepEqual(sourcePathsIn('see `src/http/uws.ts`, src/spool/, (src/cli.ts) and `dist/src/cli.js`.'), ['src/http/uws.ts', 'src/spool/', 'src/cli.ts']);
  });

  for (const doc of DOCS) {
    it(`${doc} names only paths that exist`, () => {
      const paths = sourcePathsIn(readFileSync(path.join(ROOT, doc), 'utf8'));
      for (const named of paths) {
        const full = path.join(ROOT, named);
        assert.ok(existsSync(full), `${doc} names ${named}, which does not exist`);
        if (named.endsWith('/')) assert.ok(statSync(full).isDirectory(), `${doc} names ${named} as a folder`);
      }
    });
  }

  it('are named at all (the README has a layout)', () => {
    assert.ok(sourcePathsIn(readFileSync(path.join(ROOT, 'README.md'), 'utf8')).length >= 10);
  });
});
