// Main-thread side of shipping: hands published ring batches to the worker pool, releases their
// ring space once Kinesis confirmed them, and hands them to another worker if their worker failed.
//
// At most workers × batches-per-worker tasks run at once (one in ordered mode). Batches published
// while every slot is busy wait, and the next free slot takes all the waiting batches that lie
// next to each other in the ring as one task: when Kinesis is slow, tasks grow instead of queuing,
// so throughput follows the backlog rather than the number of slots.

import path from 'node:path';
import { Piscina } from 'piscina';
import type { Logger } from '../log';
import type { CounterHandle } from '../metrics/shared-metrics';
import type { BatchDescriptor } from '../ring/ring-writer';
import type { ShipperWorkerData, ShipTask } from './worker';

export interface ShipperOptions {
  readonly workers: number;
  readonly batchesPerWorker: number;
  /** Ship one batch at a time, so that batches are confirmed in the order they were taken. */
  readonly ordered: boolean;
  /**
   * Bounds of one task (its records and ring bytes) when waiting batches are taken together: the
   * limits of one batch. A task's worker paces it as a whole, so an unbounded task could reserve
   * far ahead of a shard's rate.
   */
  readonly maxTaskRecords: number;
  readonly maxTaskBytes: number;
  readonly workerData: ShipperWorkerData;
  readonly log: Logger;
  /** The batch is settled: confirmed by Kinesis, except the events at `deadLettered` (positions in the batch). */
  readonly onConfirmed: (batch: BatchDescriptor, deadLettered: readonly number[]) => void;
  readonly batchesShipped: CounterHandle;
  readonly taskFailures: CounterHandle;
  readonly workerRestarts: CounterHandle;
}

const RESUBMIT_DELAY_MS = 200;

interface Task {
  readonly batches: readonly BatchDescriptor[];
  readonly region: ShipTask;
}

export class Shipper {
  private readonly pool: Piscina;
  private inFlight = 0;
  private tasksRunning = 0;
  private readonly slots: number;
  private idleWaiters: (() => void)[] = [];
  private closed = false;
  /** Batches waiting for a free slot, oldest first. */
  private readonly waiting: BatchDescriptor[] = [];

  constructor(private readonly options: ShipperOptions) {
    this.slots = options.ordered ? 1 : options.workers * options.batchesPerWorker;
    this.pool = new Piscina({
      filename: path.join(__dirname, 'worker.js'),
      minThreads: options.workers,
      maxThreads: options.workers,
      concurrentTasksPerWorker: options.batchesPerWorker,
      // The default mode parks an idle worker's event loop between tasks, which would freeze the
      // PutRecords calls it has in flight.
      atomics: 'disabled',
      idleTimeout: Number.POSITIVE_INFINITY,
      workerData: options.workerData,
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
      const batches = [this.waiting.shift()!];
      let last = batches[0];
      let count = last.count;
      const fits = (next: BatchDescriptor) => count + next.count <= this.options.maxTaskRecords && next.end - batches[0].start <= this.options.maxTaskBytes;
      while (this.waiting.length > 0 && this.waiting[0].start === last.end && fits(this.waiting[0])) {
        last = this.waiting.shift()!;
        batches.push(last);
        count += last.count;
      }
      this.tasksRunning++;
      // Send only the region's numbers: the worker reads the bytes from the ring itself.
      this.submit({ batches, region: { start: batches[0].start, end: last.end, count } });
    }
  }

  private submit(task: Task): void {
    this.pool.run(task.region).then(
      (deadLettered: number[]) => {
        this.tasksRunning--;
        let offset = 0;
        for (const batch of task.batches) {
          const own = deadLettered.length === 0 ? deadLettered : deadLettered.filter((i) => i >= offset && i < offset + batch.count).map((i) => i - offset);
          offset += batch.count;
          this.options.batchesShipped.inc();
          this.options.onConfirmed(batch, own);
          this.inFlight--;
        }
        if (this.inFlight === 0) this.idleWaiters.splice(0).forEach((wake) => wake());
        this.startTasks();
      },
      (err: Error) => {
        if (this.closed) return;
        this.options.taskFailures.inc();
        this.options.log.error({ err: err.message, batch: task.region }, 'shipper task failed; handing the batch to another worker');
        setTimeout(() => this.submit(task), RESUBMIT_DELAY_MS).unref();
      },
    );
  }
}
