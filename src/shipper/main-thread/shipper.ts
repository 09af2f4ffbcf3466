// Runs on the main thread: the owner of the worker pool.
//
// Main-thread side of shipping: hands published ring batches to the worker pool as tasks, releases
// their ring space once Kinesis confirmed them, and hands a task to another worker if its worker failed.
//
// At most workers × batches-per-worker tasks run at once (one in ordered mode). Batches published
// while every slot is busy wait, and the next free slot takes all the waiting batches that lie
// next to each other in the ring as one task: when Kinesis is slow, tasks grow instead of queuing,
// so throughput follows the backlog rather than the number of slots. The ring bytes those tasks
// hold are bounded by what the shards take while a call is answered (in-flight-bound.ts).

import path from 'node:path';
import { Piscina } from 'piscina';
import type { Logger } from '../../log';
import { METRICS } from '../../metrics/metric-definitions';
import { SharedMetrics, type CounterHandle } from '../../metrics/shared-metrics';
import { RingViews } from '../../ring/ring-layout';
import { readBatch } from '../../ring/ring-reader';
import type { BatchDescriptor } from '../../ring/ring-writer';
import { appendDeadLetters } from '../shared/dead-letter';
import type { PoolWorkerData, ShipperWorkerData, Task, TaskResult } from '../shared/worker-protocol';
import { bytesInFlightBound, type InFlightShape, putRecordsSnapshot, RecentPutLatency, taskBytesCap } from './in-flight-bound';

export interface ShipperOptions {
  readonly workers: number;
  /** Tasks each worker runs at once (the --batches-per-worker option). */
  readonly batchesPerWorker: number;
  /** Run one task at a time, so that batches are confirmed in the order they were taken. */
  readonly ordered: boolean;
  /**
   * Bounds of one task (its records and ring bytes) when waiting batches are taken together: the
   * limits of one batch. A task's worker paces it as a whole, so an unbounded task could reserve
   * far ahead of a shard's rate.
   */
  readonly maxTaskRecords: number;
  readonly maxTaskBytes: number;
  readonly workerData: ShipperWorkerData;
  /** The module each pool thread runs: the production worker unless a test gives one that wraps it. */
  readonly workerFile?: string;
  readonly log: Logger;
  /** The batch is confirmed by Kinesis, except the events at `deadLettered` (positions in the batch). */
  readonly onConfirmed: (batch: BatchDescriptor, deadLettered: readonly number[]) => void;
  readonly batchesShipped: CounterHandle;
  readonly taskFailures: CounterHandle;
  readonly workerRestarts: CounterHandle;
}

/**
 * Young generation of each worker's V8 heap, in MiB (V8's default is 48: two 16 MiB semi-spaces and
 * as much for large objects). A task's events and aggregates live while it waits for its shards'
 * rate, so they survive scavenges, and V8 grows the young generation on survival to its maximum
 * and keeps it committed: in the catch-up after an outage each worker's heap went from 12 to 48-50
 * MiB committed with 15-25 MiB in use. With 8, what outlives a few scavenges is promoted to the old
 * generation, whose limit stays V8's default: this bound cannot fail a task for lack of memory.
 */
const WORKER_YOUNG_GENERATION_MB = 8;

/** A failed task is handed on after a pause that doubles with each failure, up to the cap. */
const RESUBMIT_DELAY_MS = 200;
const MAX_RESUBMIT_DELAY_MS = 2000;
/**
 * A task whose worker throws or dies this many times in a row will fail forever (a poison task):
 * its events go to the dead-letter file, so that it stops holding its slot and its ring space.
 * High enough that a worker dying now and then (the tests' crashing worker, every 3rd task) never gets there.
 */
const MAX_TASK_ATTEMPTS = 10;

/** A task handed to the pool, and the ring batches it covers, until its events are confirmed or dead-lettered. */
interface PendingTask {
  readonly task: Task;
  readonly batches: readonly BatchDescriptor[];
  failures: number;
}

export class Shipper {
  private readonly pool: Piscina;
  private inFlight = 0;
  private tasksRunning = 0;
  private bytesInFlight = 0;
  /** The stream's open shards, stored by the workers (PoolWorkerData.shardCount). */
  private readonly shardCount: Int32Array;
  private readonly putLatency: RecentPutLatency;
  private readonly slots: number;
  private idleWaiters: (() => void)[] = [];
  private closed = false;
  /** Batches waiting for a free slot, oldest first. */
  private readonly waiting: BatchDescriptor[] = [];
  private readonly ring: RingViews;
  private readonly givenUp: CounterHandle;

  constructor(private readonly options: ShipperOptions) {
    this.slots = options.ordered ? 1 : options.workers * options.batchesPerWorker;
    this.ring = new RingViews(options.workerData.ring);
    const metrics = new SharedMetrics(options.workerData.metrics);
    this.givenUp = metrics.counter(METRICS.deadLettered, 'refused');
    this.putLatency = new RecentPutLatency(() => putRecordsSnapshot(metrics));
    const shardCount = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
    this.shardCount = new Int32Array(shardCount);
    const workerData: PoolWorkerData = { ...options.workerData, shardCount };
    this.pool = new Piscina({
      filename: options.workerFile ?? path.join(__dirname, '..', 'worker-thread', 'worker.js'),
      minThreads: options.workers,
      maxThreads: options.workers,
      concurrentTasksPerWorker: options.batchesPerWorker,
      // The default mode parks an idle worker's event loop between tasks, which would freeze the
      // PutRecords calls it has in flight.
      atomics: 'disabled',
      idleTimeout: Number.POSITIVE_INFINITY,
      // Its run and wait histograms are not read: keeping them costs the main thread per task.
      recordTiming: false,
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
      workerData,
    });
    let started = 0;
    this.pool.on('workerCreate', () => {
      if (++started > options.workers) options.workerRestarts.inc();
    });
  }

  get workers(): number {
    return this.pool.threads.length;
  }

  get batchesInFlight(): number {
    return this.inFlight;
  }

  ship(batch: BatchDescriptor): void {
    this.inFlight++;
    this.waiting.push(batch);
    this.startTasks();
  }

  /** Resolves once every batch handed over so far is confirmed, or false after timeoutMs. */
  async idle(timeoutMs: number): Promise<boolean> {
    if (this.inFlight === 0) return true;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pool.destroy();
  }

  private startTasks(): void {
    while (this.tasksRunning < this.slots && this.waiting.length > 0) {
      // Room within the bytes in flight; one task may always run, however large.
      const shape = this.inFlightShape();
      const bound = bytesInFlightBound(shape, this.putLatency.seconds());
      const room = this.tasksRunning === 0 ? Number.POSITIVE_INFINITY : bound - this.bytesInFlight;
      const first = this.waiting[0];
      if (first.end - first.start > room) return;
      const batches = [this.waiting.shift()!];
      let last = batches[0];
      let count = last.count;
      const maxBytes = Math.min(room, taskBytesCap(shape, bound));
      const fits = (next: BatchDescriptor) => count + next.count <= this.options.maxTaskRecords && next.end - batches[0].start <= maxBytes;
      while (this.waiting.length > 0 && this.waiting[0].start === last.end && fits(this.waiting[0])) {
        last = this.waiting.shift()!;
        batches.push(last);
        count += last.count;
      }
      this.tasksRunning++;
      this.bytesInFlight += last.end - batches[0].start;
      this.submit({ task: { start: batches[0].start, end: last.end, count }, batches, failures: 0 });
    }
  }

  private inFlightShape(): InFlightShape {
    return { shards: Atomics.load(this.shardCount, 0), workers: this.options.workers, maxTaskBytes: this.options.maxTaskBytes };
  }

  private submit(pending: PendingTask): void {
    this.pool.run(pending.task).then(
      (deadLettered: TaskResult) => this.finish(pending, deadLettered),
      (err: Error) => {
        if (this.closed) return;
        this.options.taskFailures.inc();
        if (++pending.failures >= MAX_TASK_ATTEMPTS) return this.giveUp(pending, err);
        this.options.log.error({ err: err.message, task: pending.task, failures: pending.failures }, 'shipper task failed; handing it to another worker');
        setTimeout(() => this.submit(pending), Math.min(MAX_RESUBMIT_DELAY_MS, RESUBMIT_DELAY_MS * 2 ** (pending.failures - 1))).unref();
      },
    );
  }

  /** The task is done: its events are confirmed, except those at `deadLettered` (positions in the task). */
  private finish(pending: PendingTask, deadLettered: readonly number[]): void {
    this.tasksRunning--;
    this.bytesInFlight -= pending.task.end - pending.task.start;
    let offset = 0;
    for (const batch of pending.batches) {
      const own = deadLettered.length === 0 ? deadLettered : deadLettered.filter((i) => i >= offset && i < offset + batch.count).map((i) => i - offset);
      offset += batch.count;
      this.options.batchesShipped.inc();
      this.options.onConfirmed(batch, own);
      this.inFlight--;
    }
    if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    this.startTasks();
  }

  /** Writes a poison task's events to the dead-letter file (some may have been confirmed before a failure) and finishes it. */
  private giveUp(pending: PendingTask, err: Error): void {
    const { task } = pending;
    const file = this.options.workerData.deadLetterFile;
    try {
      appendDeadLetters(
        file,
        readBatch(this.ring, task.start, task.end).map((record) => record.data),
      );
    } catch (readErr) {
      // The task's ring bytes are unreadable: nothing can be kept, but the slot and the space must come back.
      this.options.log.error(
        { err: (readErr as Error).message, task },
        `cannot write a failed task's ${task.count} events to the dead-letter file: they are lost`,
      );
    }
    this.givenUp.inc(task.count);
    this.options.log.error(
      { err: err.message, task, failures: pending.failures, file },
      `a shipper task of ${task.count} events failed ${pending.failures} times in a row (${err.message}): its events are written to the dead-letter file`,
    );
    this.finish(
      pending,
      Array.from({ length: task.count }, (_, i) => i),
    );
  }
}
