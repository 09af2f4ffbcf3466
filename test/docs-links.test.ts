// The README is a pitch, a quick start and a contents list: the rest lives in docs/. Every relative
// link of the README and docs/ must lead somewhere (a file that exists, a heading that exists), so
// that moving a section without its links fails here; and the contents list must reach every doc.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DOCS, ROOT } from './support/docs';

/** Link targets of a Markdown text, code blocks and inline code left out (they show links, they are not links). */
function linksIn(markdown: string): string[] {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]);
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens; repeats get -1, -2… */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, '');
  for (const [, heading] of prose.matchAll(/^#{1,6} +(.+?) *#* *$/gm)) {
    const base = heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    let anchor = base;
    for (let n = 1; anchors.has(anchor); n++) anchor = `${base}-${n}`;
    anchors.add(anchor);
  }
  return anchors;
}

/** Why a link from `doc` does not resolve, or undefined when it does. */
function brokenLink(doc: string, link: string): string | undefined {
  if (/^[a-z][a-z+.-]*:/i.test(link)) return undefined; // http:, https:, mailto:: not checked here
  const [target, anchor] = link.split('#', 2);
  const file = target === '' ? path.join(ROOT, doc) : path.join(ROOT, path.dirname(doc), decodeURIComponent(target));
  if (!existsSync(file)) return `${doc}: ${link}: no such file`;
  if (anchor === undefined) return undefined;
  if (!file.endsWith('.md')) return `${doc}: ${link}: an anchor into a file that is not Markdown`;
  if (!anchorsOf(readFileSync(file, 'utf8')).has(anchor)) return `${doc}: ${link}: no heading with that anchor`;
  return undefined;
}

describe('links in the README and docs/', () => {
  it('are found, and anchors are made as GitHub makes them', () => {
    assert.deepEqual(linksIn('see [a](docs/a.md#b), `[c](d.md)` and [e](https://x.example/)'), ['docs/a.md#b', 'https://x.example/']);
    assert.deepEqual(
      [...anchorsOf('# Runtime: Node.js and uWebSockets.js\n## `tap`\n## tap\n```\n# not a heading\n```')],
      ['runtime-nodejs-and-uwebsocketsjs', 'tap', 'tap-1'],
    );
    assert.equal(
      brokenLink('README.md', 'docs/life-of-an-event.md#no-such-heading'),
      'README.md: docs/life-of-an-event.md#no-such-heading: no heading with that anchor',
    );
    assert.equal(brokenLink('docs/metrics.md', 'no-such-file.md'), 'docs/metrics.md: no-such-file.md: no such file');
  });

  for (const doc of DOCS) {
    it(`${doc}: every relative link resolves`, () => {
      const broken = linksIn(readFileSync(path.join(ROOT, doc), 'utf8'))
        .map((link) => brokenLink(doc, link))
        .filter((why) => why !== undefined);
      assert.deepEqual(broken, []);
    });
  }

  it('the README has a contents list that reaches every document of docs/', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf('\n## Contents\n');
    assert.ok(start >= 0, 'README.md has a "Contents" section');
    const end = readme.indexOf('\n## ', start + 1);
    const listed = new Set(linksIn(readme.slice(start, end < 0 ? undefined : end)).map((link) => link.split('#')[0]));
    const unlisted = DOCS.filter((doc) => doc.startsWith('docs/') && !listed.has(doc));
    assert.deepEqual(unlisted, [], 'documents of docs/ the contents list does not link');
  });

  it('the README stays short: the pitch, the quick start, the runtime note and the contents', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    assert.ok(Buffer.byteLength(readme) <= 10 * 1024, `README.md has ${Buffer.byteLength(readme)} bytes; move details into docs/`);
  });
});
