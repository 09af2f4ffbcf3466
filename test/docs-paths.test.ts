// Every source path the README and docs/ name must exist: a file moved or renamed without its docs
// fails here, and so does a function docs/life-of-an-event.md names that its step's files do not
// hold. Build outputs (dist/src/…) are not sources and are left alone.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DOCS, ROOT } from './support/docs';

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

  it('are named at all (the code map and the life of an event name the sources)', () => {
    assert.ok(sourcePathsIn(readFileSync(path.join(ROOT, 'docs', 'code-map.md'), 'utf8')).length >= 10);
    assert.ok(sourcePathsIn(readFileSync(path.join(ROOT, 'docs', 'life-of-an-event.md'), 'utf8')).length >= 20);
  });
});

/**
 * The functions a step of docs/life-of-an-event.md names, as `name()` or `Type.name()`, with the
 * source files it names: each function must appear in one of them, so that a renamed function
 * fails here as a renamed file does above.
 */
function stepsOf(text: string): { step: string; files: string[]; functions: string[] }[] {
  const steps = text.split(/\n(?=\d+\. \*\*)/).slice(1);
  return steps.map((step) => ({
    step: step.slice(0, step.indexOf('**', 5) + 2),
    files: sourcePathsIn(step).filter((named) => named.endsWith('.ts')),
    functions: [...step.matchAll(/`((?:\w+\.)?\w+)\(\)`/g)].map((m) => m[1]),
  }));
}

describe('docs/life-of-an-event.md', () => {
  const text = readFileSync(path.join(ROOT, 'docs', 'life-of-an-event.md'), 'utf8');
  const steps = stepsOf(text);

  it('is read step by step, and each step names files and functions', () => {
    assert.ok(steps.length >= 15, `${steps.length} steps`);
    for (const { step, files, functions } of steps) {
      assert.ok(files.length > 0, `${step} names a source file`);
      assert.ok(functions.length > 0, `${step} names a function`);
    }
  });

  it('names only functions that the files of their step hold', () => {
    const missing: string[] = [];
    for (const { step, files, functions } of steps) {
      const sources = files.filter((file) => existsSync(path.join(ROOT, file))).map((file) => readFileSync(path.join(ROOT, file), 'utf8'));
      for (const name of functions) {
        // `Type.name()`: the type and the function in one file.
        const words = name.split('.').map((word) => new RegExp(`\\b${word}\\b`));
        if (!sources.some((source) => words.every((word) => word.test(source)))) missing.push(`${step} ${name}() (files: ${files.join(', ')})`);
      }
    }
    assert.deepEqual(missing, [], 'functions named in a step whose files do not hold them');
  });
});
