// The tests' temporary directories (test/support/temp-dir.ts) must not outlive the process that made them.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

describe('test temporary directories', () => {
  it('are removed, with what was written into them, when the process that made them exits', () => {
    const helper = path.join(__dirname, 'support', 'temp-dir.js');
    const script = `const fs = require('node:fs'); const dir = require(${JSON.stringify(helper)}).tempDir('temp-dir-test-');
      fs.mkdirSync(dir + '/spool'); fs.writeFileSync(dir + '/spool/data', 'x'); console.log(dir);`;
    const dir = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }).trim();
    assert.match(path.basename(dir), /^temp-dir-test-/);
    assert.equal(existsSync(dir), false);
  });
});
