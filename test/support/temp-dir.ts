// Temporary directories for tests, removed when the test file's process exits (node --test runs
// each file in a process of its own). Without this, every run leaves one behind per gateway it
// starts: thousands on a machine that runs the suite often.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const made: string[] = [];

process.once('exit', () => {
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // still in use (a mount the test did not release): left for the system to clear
    }
  }
});

/** A new, empty directory `<tmpdir>/<prefix>XXXXXX`, removed when this process exits. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
