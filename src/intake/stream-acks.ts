// Requests held for `?ack=stream` / `X-Ack: stream`: each is parked with the sequence numbers of its
// ring records and answered when the last of them is settled, or when its wait times out. Nothing
// polls: settling a batch is what wakes its waiters.

import type { HistogramHandle } from '../metrics/shared-metrics';
import { RecordOwners } from '../ring/record-owners';

export interface AckOutcome {
  readonly accepted: number;
  /** Events Kinesis confirmed (so far, when timed out). */
  readonly confirmed: number;
  /** Events given up to the dead-letter file (their TTL passed, or Kinesis refused them for good). */
  readonly deadLettered: number;
  readonly timedOut: boolean;
}

class Waiter {
  settled = 0;
  deadLettered = 0;
  timer: NodeJS.Timeout | undefined;
  readonly startedMs = performance.now();
  constructor(
    readonly accepted: number,
    readonly answer: (outcome: AckOutcome) => void,
  ) {}
}

export class StreamAcks {
  private readonly waiters = new Set<Waiter>();
  private readonly owners = new RecordOwners<Waiter>((waiter, settled, deadLettered) => {
    waiter.settled += settled;
    waiter.deadLettered += deadLettered;
    if (waiter.settled === waiter.accepted) this.finish(waiter, false);
  });

  constructor(
    private readonly timeoutMs: number,
    private readonly waitSeconds: HistogramHandle,
  ) {}

  /** Requests waiting for Kinesis now. */
  get waiting(): number {
    return this.waiters.size;
  }

  /** Holds a request whose `count` events are ring records from `firstSeq` on. */
  park(firstSeq: number, count: number, answer: (outcome: AckOutcome) => void): void {
    const waiter = new Waiter(count, answer);
    this.waiters.add(waiter);
    this.owners.assign(firstSeq, count, waiter);
    waiter.timer = setTimeout(() => this.finish(waiter, true), this.timeoutMs);
  }

  /** A ring batch was settled; `deadLettered` holds positions within it. */
  settle(firstSeq: number, count: number, deadLettered: readonly number[]): void {
    this.owners.settle(firstSeq, count, deadLettered.length === 0 ? deadLettered : deadLettered.map((i) => firstSeq + i));
  }

  /** Answers every request still waiting, as timed out (at shutdown). */
  finishAll(): void {
    for (const waiter of this.waiters) this.finish(waiter, true);
  }

  private finish(waiter: Waiter, timedOut: boolean): void {
    if (!this.waiters.delete(waiter)) return; // answered already
    clearTimeout(waiter.timer);
    this.waitSeconds.observe((performance.now() - waiter.startedMs) / 1000);
    waiter.answer({ accepted: waiter.accepted, confirmed: waiter.settled - waiter.deadLettered, deadLettered: waiter.deadLettered, timedOut });
  }
}
