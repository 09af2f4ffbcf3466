// Runs on both threads: the workers append the events they give up on; on the main thread the
// shipper appends a task that failed too often, and the spool a record too large for the ring.
//
// Events the shipper gives up on (expired, or refused for good) go to an NDJSON file, one envelope
// per line, ready to be replayed: never dropped silently. Each append is one write with O_APPEND,
// so lines from several worker threads do not interleave.

import { appendFileSync } from 'node:fs';

export function appendDeadLetters(file: string, envelopes: readonly Uint8Array[]): void {
  if (envelopes.length === 0) return;
  const parts: Uint8Array[] = [];
  for (const envelope of envelopes) parts.push(envelope, NEWLINE);
  appendFileSync(file, Buffer.concat(parts));
}

const NEWLINE = Buffer.from('\n');
