// Main-thread side of shipping: hands each published ring batch to the worker pool, releases its
// ring space once Kinesis confirmed it, and hands it to another worker if its worker failed.

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
  readonly workerData: ShipperWorkerData;
  readonly log: Logger;
  /** The batch is settled: confirmed by Kinesis, except the events at `deadLettered` (positions in the batch). */
  readonly onConfirmed: (batch: BatchDescriptor, deadLettered: readonly number[]) => void;
  readonly batchesShipped: CounterHandle;
  readonly taskFailures: CounterHandle;
  readonly workerRestarts: CounterHandle;
}

const RESUBMIT_DELAY_MS = 200;

export class Shipper {
  private readonly pool: Piscina;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private closed = false;
  /** Ordered mode: batches waiting for the one in flight. */
  private readonly waiting: BatchDescriptor[] = [];

  constructor(private readonly options: ShipperOptions) {
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
    if (!this.options.ordered) return this.submit(batch);
    this.waiting.push(batch);
    if (this.inFlight === 1) this.submit(this.waiting.shift()!);
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

  private submit(batch: BatchDescriptor): void {
    // Send only the region's numbers: the worker reads the bytes from the ring itself.
    const task: ShipTask = { start: batch.start, end: batch.end, count: batch.count };
    this.pool.run(task).then(
      (deadLettered: number[]) => {
        this.options.batchesShipped.inc();
        this.options.onConfirmed(batch, deadLettered);
        if (--this.inFlight === 0) this.idleWaiters.splice(0).forEach((wake) => wake());
        else if (this.waiting.length > 0) this.submit(this.waiting.shift()!);
      },
      (err: Error) => {
        if (this.closed) return;
        this.options.taskFailures.inc();
        this.options.log.error({ err: err.message, batch: task }, 'shipper task failed; handing the batch to another worker');
        setTimeout(() => this.submit(batch), RESUBMIT_DELAY_MS).unref();
      },
    );
  }
}
