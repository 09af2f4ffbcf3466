// Waiting for a condition with a deadline: tests poll for what they expect instead of sleeping a
// fixed time, so that a slow machine makes them slower, never wrong, and a lost wake-up fails.

import { setTimeout as sleep } from 'node:timers/promises';

export async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(everyMs);
  }
}
