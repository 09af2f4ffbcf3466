// `kinesis-gateway replay FILE`: re-sends a dead-letter file (NDJSON, one envelope per line) to a
// stream with the shipper's own delivery: KPL aggregation by predicted shard, per-shard pacing,
// exact retries with backoff. Each envelope keeps its id, so consumers that remove duplicates by id
// see each event once.
//
// Resumable: the file is read in chunks (up to --chunk-events events or MAX_CHUNK_BYTES), a few
// in flight at once. A progress file beside it records the offset below which every event is
// confirmed (the checkpoint) and the offset up to which chunks were started. A replay that dies is
// run again with the same command: it starts at the checkpoint, and says how many events after it
// the earlier run may already have sent (those may arrive twice). A finished replay's progress file
// says so, and running it again sends nothing.

import { appendFile, open, readFile, rename } from 'node:fs/promises';
import { StartupError } from '../errors';
import type { Logger } from '../log';
import { eventIdOf, receivedAtOf } from '../events/envelope';
import { fieldPartitionKey, parsePartitionKeyRule, type PartitionKeyRule } from '../events/partition-key';
import { createKinesisClient, type KinesisTarget } from '../kinesis-client';
import { MAX_RECORD_BYTES } from '../kinesis-limits';
import type { PendingEvent } from '../shipper/worker-thread/aggregator';
import { deliver, type DeliveryTarget, type GivenUp, type ShipperCounters } from '../shipper/worker-thread/put-records';
import { ShardMapCache } from '../shipper/worker-thread/shard-map-cache';
import { ShardPacer } from '../shipper/worker-thread/shard-pacer';

export interface ReplayOptions {
  readonly file: string;
  readonly kinesis: KinesisTarget;
  readonly stream: string;
  /** 0 turns aggregation off. */
  readonly aggregationMaxBytes: number;
  readonly partitionKey: string;
  readonly rateLimitPercent: number;
  /** Chunks in flight at once, and the events in one chunk. */
  readonly concurrency: number;
  readonly chunkEvents: number;
  readonly progressFile: string;
  /** Where lines Kinesis refuses for good (or that are not envelopes) go. */
  readonly refusedFile: string;
  readonly log: Logger;
  /** Written to (with \r) about once a second: a terminal's progress line. */
  readonly progress?: NodeJS.WriteStream;
  readonly signal?: AbortSignal;
}

export interface ReplaySummary {
  readonly file: string;
  /** Events in the file (lines that are not empty). */
  readonly eventsInFile: number;
  /** Events confirmed by an earlier run (before the checkpoint), not sent again. */
  readonly skippedAsConfirmed: number;
  /** Events this run sent that an interrupted earlier run may have sent already: at most this many duplicates. */
  readonly possibleDuplicates: number;
  readonly sent: number;
  readonly confirmed: number;
  readonly refused: number;
  readonly retries: number;
  readonly complete: boolean;
  readonly tookMs: number;
}

interface Progress {
  readonly file: string;
  readonly size: number;
  /** Every event before this byte offset is confirmed (or refused and written to the refused file). */
  confirmedOffset: number;
  confirmedEvents: number;
  /** Chunks up to this offset were handed to Kinesis (some may be confirmed beyond the checkpoint). */
  startedOffset: number;
  done: boolean;
}

const MAX_CHUNK_BYTES = 4 * 1024 * 1024;
const READ_BYTES = 1024 * 1024;
const EVENT_FIELD = Buffer.from(',"event":');
const NEWLINE = 0x0a;

interface Chunk {
  readonly start: number;
  end: number;
  readonly events: PendingEvent[];
  /** Lines that are not envelopes, or too large for a record: refused without sending. */
  readonly unusable: Buffer[];
  done: boolean;
}

/** Reads the file from `offset` in chunks of whole lines. */
async function* chunks(file: string, offset: number, keyRule: PartitionKeyRule, maxEvents: number): AsyncGenerator<Chunk> {
  const handle = await open(file, 'r');
  try {
    let position = offset;
    let carry = Buffer.alloc(0);
    let chunk: Chunk = { start: offset, end: offset, events: [], unusable: [], done: false };
    let chunkBytes = 0;
    for (;;) {
      const buffer = Buffer.allocUnsafe(READ_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, READ_BYTES, position);
      const atEnd = bytesRead === 0;
      const data = carry.length > 0 ? Buffer.concat([carry, buffer.subarray(0, bytesRead)]) : buffer.subarray(0, bytesRead);
      const dataStart = position - carry.length;
      position += bytesRead;
      let lineStart = 0;
      for (;;) {
        let newline = data.indexOf(NEWLINE, lineStart);
        if (newline < 0) {
          if (!atEnd || lineStart >= data.length) break;
          newline = data.length; // a last line without its newline
        }
        const line = Buffer.from(data.subarray(lineStart, newline));
        lineStart = newline + 1;
        const lineEnd = Math.min(dataStart + lineStart, dataStart + data.length);
        if (line.length > 0 && !(line.length === 1 && line[0] === 0x0d)) {
          const event = pendingEvent(line, keyRule);
          if (event) chunk.events.push(event);
          else chunk.unusable.push(line);
          chunkBytes += line.length;
        }
        chunk.end = lineEnd;
        if (chunk.events.length + chunk.unusable.length >= maxEvents || chunkBytes >= MAX_CHUNK_BYTES) {
          yield chunk;
          chunk = { start: lineEnd, end: lineEnd, events: [], unusable: [], done: false };
          chunkBytes = 0;
        }
      }
      carry = lineStart < data.length ? Buffer.from(data.subarray(lineStart)) : Buffer.alloc(0);
      if (atEnd) break;
    }
    if (chunk.events.length + chunk.unusable.length > 0 || chunk.end > chunk.start) yield chunk;
  } finally {
    await handle.close();
  }
}

/** One dead-letter line as the shipper's event; undefined when it is not an envelope or cannot be a record. */
function pendingEvent(line: Buffer, keyRule: PartitionKeyRule): PendingEvent | undefined {
  if (line[0] !== 0x7b || line.length > MAX_RECORD_BYTES - 256) return undefined;
  const receivedAt = receivedAtOf(line);
  if (receivedAt === 0) return undefined;
  let partitionKey = '';
  if (keyRule.kind === 'field') {
    const eventAt = line.indexOf(EVENT_FIELD);
    const key = eventAt < 0 ? undefined : fieldPartitionKey(line, eventAt + EVENT_FIELD.length, keyRule.path);
    partitionKey = key ? key.toString('latin1') : eventIdOf(line); // the id, as serve keys an event without the field
  }
  return { partitionKey, data: line, receivedAt };
}

async function readProgress(options: ReplayOptions, size: number): Promise<Progress> {
  const fresh: Progress = { file: options.file, size, confirmedOffset: 0, confirmedEvents: 0, startedOffset: 0, done: false };
  let text: string;
  try {
    text = await readFile(options.progressFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return fresh;
    throw err;
  }
  const saved = JSON.parse(text) as Progress;
  if (saved.size > size)
    throw new StartupError(
      'replay_progress_mismatch',
      `${options.progressFile} is the progress of a longer file than ${options.file} (${saved.size} > ${size} bytes): was the file replaced? Remove the progress file to replay it from the start`,
    );
  // A file that grew since (more dead letters appended) is replayed on from where the last run stopped.
  return { ...saved, size, done: saved.done && saved.size === size };
}

async function writeProgress(file: string, progress: Progress): Promise<void> {
  const temporary = `${file}.tmp`;
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(`${JSON.stringify(progress)}\n`);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await rename(temporary, file);
}

/** Counts the events (lines that are not empty) between two offsets, which are at line starts or the end. */
async function countEvents(file: string, from: number, to: number): Promise<number> {
  if (to <= from) return 0;
  const handle = await open(file, 'r');
  const buffer = Buffer.allocUnsafe(READ_BYTES);
  let count = 0;
  let lineBytes = 0;
  try {
    for (let position = from; position < to; ) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(READ_BYTES, to - position), position);
      if (bytesRead === 0) break;
      for (let i = 0; i < bytesRead; i++) {
        if (buffer[i] !== NEWLINE) lineBytes++;
        else {
          if (lineBytes > 0 && !(lineBytes === 1 && buffer[i - 1] === 0x0d)) count++;
          lineBytes = 0;
        }
      }
      position += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return lineBytes > 0 ? count + 1 : count;
}

export async function replay(options: ReplayOptions): Promise<ReplaySummary> {
  const started = Date.now();
  const { log } = options;
  const input = await open(options.file, 'r');
  const size = (await input.stat()).size;
  await input.close();
  const progress = await readProgress(options, size);
  const eventsInFile = await countEvents(options.file, 0, size);
  const counts = { sent: 0, confirmed: 0, refused: 0, retries: 0 };
  const skipped = progress.confirmedEvents;
  const summary = (complete: boolean, possibleDuplicates: number): ReplaySummary => ({
    file: options.file,
    eventsInFile,
    skippedAsConfirmed: skipped,
    possibleDuplicates,
    ...counts,
    complete,
    tookMs: Date.now() - started,
  });
  if (progress.done) {
    log.info(
      { progressFile: options.progressFile },
      `${options.file} was replayed whole already (${options.progressFile} says so): nothing to send; remove the progress file to send it again`,
    );
    return summary(true, 0);
  }
  const possibleDuplicates = await countEvents(options.file, progress.confirmedOffset, progress.startedOffset);
  if (progress.confirmedOffset > 0 || possibleDuplicates > 0) {
    log.info(
      { skipped, possibleDuplicates, offset: progress.confirmedOffset },
      `resuming ${options.file}: ${skipped} events were confirmed by an earlier run and are skipped; the next ${possibleDuplicates} may have been sent by it already and can arrive twice (consumers remove duplicates by id)`,
    );
  }

  const client = createKinesisClient(options.kinesis);
  const refusedLines: Uint8Array[] = [];
  const counters: ShipperCounters = {
    putSucceeded: () => undefined,
    putFailed: (_seconds, err) => log.debug({ err: (err as Error).message }, 'PutRecords failed; retrying with backoff'),
    recordFailed: () => undefined,
    retried: () => counts.retries++,
    confirmed: (record) => (counts.confirmed += record.events.length),
    throttled: () => undefined,
    shardMismatch: () => undefined,
  };
  const keepRefused = (givenUp: readonly GivenUp[]) => {
    for (const { events, reason } of givenUp) {
      counts.refused += events.length;
      refusedLines.push(...events.map((e) => e.data));
      log.warn({ events: events.length, reason, file: options.refusedFile }, 'Kinesis refused events for good: written to the refused file');
    }
  };
  const target: DeliveryTarget = {
    client,
    stream: options.stream,
    counters,
    shardMaps: new ShardMapCache(client, options.stream, log, { refreshed: () => undefined }),
    pacer: new ShardPacer(options.rateLimitPercent / 100),
    aggregationMaxBytes: options.aggregationMaxBytes,
    recordTtlMs: Number.POSITIVE_INFINITY, // retry until confirmed: the point is to get them there
  };
  const keyRule = parsePartitionKeyRule(options.partitionKey);

  const ticker = options.progress?.isTTY
    ? setInterval(() => {
        const done = skipped + counts.confirmed + counts.refused;
        options.progress!.write(
          `\rreplaying ${options.file}: ${done} of ${eventsInFile} events confirmed (${eventsInFile ? Math.floor((done / eventsInFile) * 100) : 100}%), ${counts.retries} retries   `,
        );
      }, 1000)
    : undefined;

  // Chunks in flight, oldest first: the checkpoint moves over the confirmed prefix only.
  const inFlight: Chunk[] = [];
  let writing = Promise.resolve();
  const save = () => (writing = writing.then(() => writeProgress(options.progressFile, progress)));
  const advance = async () => {
    let moved = false;
    while (inFlight.length > 0 && inFlight[0].done) {
      const chunk = inFlight.shift()!;
      progress.confirmedOffset = chunk.end;
      progress.confirmedEvents += chunk.events.length + chunk.unusable.length;
      moved = true;
    }
    if (refusedLines.length > 0) {
      const lines = refusedLines.splice(0);
      await appendFile(options.refusedFile, Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')])));
    }
    if (moved) await save();
  };
  const running = new Set<Promise<void>>();
  try {
    for await (const chunk of chunks(options.file, progress.confirmedOffset, keyRule, options.chunkEvents)) {
      if (options.signal?.aborted) break;
      while (running.size >= options.concurrency) await Promise.race(running);
      if (options.signal?.aborted) break;
      progress.startedOffset = Math.max(progress.startedOffset, chunk.end);
      await save(); // before sending: a run that dies knows what may have gone out
      inFlight.push(chunk);
      counts.sent += chunk.events.length;
      if (chunk.unusable.length > 0) {
        counts.refused += chunk.unusable.length;
        refusedLines.push(...chunk.unusable);
        log.warn(
          { lines: chunk.unusable.length, file: options.refusedFile },
          'lines that are not envelopes (or too large for a record) written to the refused file',
        );
      }
      const task: Promise<void> = deliver(chunk.events, target)
        .then(async (givenUp) => {
          keepRefused(givenUp);
          chunk.done = true;
          await advance();
        })
        .finally(() => running.delete(task));
      running.add(task);
    }
    await Promise.all(running);
    await advance();
    const complete = inFlight.length === 0 && progress.confirmedOffset >= size && !options.signal?.aborted;
    progress.done = complete;
    await save();
    await writing;
    return summary(complete, possibleDuplicates);
  } finally {
    if (ticker) {
      clearInterval(ticker);
      options.progress!.write('\n');
    }
    client.destroy();
  }
}
