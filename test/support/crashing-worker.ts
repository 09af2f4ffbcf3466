// Runs in a shipper worker thread, in place of the production worker (serve-with-crashing-workers.ts
// gives it to serve()): every Nth task of a thread (CRASH_WORKER_EVERY) ships half its events and
// then ends the thread, as if it crashed mid-task. The other tasks run the production worker as is.

import { workerData } from 'piscina';
import { createLogger } from '../../src/log';
import type { ShipperWorkerData, Task, TaskResult } from '../../src/shipper/shared/worker-protocol';
import shipTask, { readTask, shipEvents } from '../../src/shipper/worker-thread/worker';

const every = Number(process.env.CRASH_WORKER_EVERY);
if (!(every >= 1)) throw new Error(`CRASH_WORKER_EVERY must be a whole number >= 1, not ${JSON.stringify(process.env.CRASH_WORKER_EVERY)}`);
const log = createLogger((workerData as ShipperWorkerData).logLevel).child({ thread: 'shipper' });
let tasksTaken = 0;

export default async function shipOrCrash(task: Task): Promise<TaskResult> {
  if (++tasksTaken % every !== 0) return shipTask(task);
  const events = readTask(task);
  await shipEvents(events.slice(0, events.length >> 1));
  log.warn({ task }, 'crashing worker (a test): this worker exits mid-task');
  process.exit(1);
}
