// Taking a request's events: into the ring, the spool, or both, and deciding when the client may be
// answered. The three promises (docs/delivery.md):
//   memory: 202 once the events are in the ring (or, on overflow, written to the spool);
//   disk:   202 once the events are group-committed to the spool;
//   stream: 200 once Kinesis confirmed every event of the request.
// Events always pass through the spool in order: while it holds events the ring has not taken,
// new ones queue behind them there, never beside them in the ring.

import { RequestError } from '../errors';
import { EnvelopeWriter, type RequestMeta } from '../events/envelope';
import type { EventSpans } from '../events/json-scan';
import type { PartitionKeyRule } from '../events/partition-key';
import { METRICS } from '../metrics/metric-definitions';
import type { CounterHandle, SharedMetrics } from '../metrics/shared-metrics';
import type { BatchDescriptor, RingWriter } from '../ring/ring-writer';
import type { Spool } from '../spool/spool';
import type { Backlog } from './backlog';
import type { StreamAcks } from './stream-acks';

export type Durability = 'memory' | 'disk';

/** Events taken: 202 once in memory or on disk, 200 once Kinesis has them. */
export type TakenAnswer = { readonly status: 200 | 202; readonly accepted: number };
export type Answer = TakenAnswer | { readonly status: 503; readonly error: RequestError };

/** Who hears when a request's events may be answered: at once (inside Intake.take), or later. */
export interface AnswerListener {
  onAnswer(answer: Answer): void;
}

export interface IntakeCounters {
  readonly eventsAccepted: CounterHandle;
  readonly partitionKeyFallbacks: CounterHandle;
  readonly acknowledged: Readonly<Record<'memory' | 'disk' | 'stream', CounterHandle>>;
}

export function intakeCounters(metrics: SharedMetrics): IntakeCounters {
  return {
    // The main thread's own: counted locally until it reads them.
    eventsAccepted: metrics.localCounter(METRICS.eventsAccepted),
    partitionKeyFallbacks: metrics.localCounter(METRICS.partitionKeyFallbacks),
    acknowledged: {
      memory: metrics.localCounter(METRICS.eventsAcknowledged, 'memory'),
      disk: metrics.localCounter(METRICS.eventsAcknowledged, 'disk'),
      stream: metrics.localCounter(METRICS.eventsAcknowledged, 'stream'),
    },
  };
}

export interface IntakeOptions {
  readonly ring: RingWriter;
  readonly spool: Spool | undefined;
  readonly durability: Durability;
  readonly acks: StreamAcks;
  /** Ring records not yet settled, and when they were received (for the lag metric and the shutdown summary). */
  readonly backlog?: Backlog;
  readonly keyRule: PartitionKeyRule;
  readonly counters: IntakeCounters;
}

const IGNORE_COMMIT = (): void => undefined;

export class Intake {
  private readonly events: EnvelopeWriter;

  constructor(private readonly options: IntakeOptions) {
    this.events = new EnvelopeWriter(options.keyRule);
  }

  /**
   * Takes every event of a request or none, and tells `listener` once the client may be told
   * (at once, after the spool commit, or after Kinesis confirmed them). Throws a RequestError when
   * the request is refused before anything was taken.
   */
  take(body: Uint8Array, spans: EventSpans, meta: RequestMeta, waitForStream: boolean, listener: AnswerListener): void {
    const { ring, spool, durability, counters } = this.options;
    const events = this.events;
    events.plan(body, spans, meta, ring.capacity / 2);
    const accepted = events.count;
    const intoRing = (spool?.caughtUp ?? true) && ring.fits(events.sizes, events.count);
    if (waitForStream) {
      if (!intoRing) throw new RequestError('buffer_full', 'the gateway buffer is full (a stream acknowledgement needs room in memory, not the spool)');
      if (spool && durability === 'disk' && !spool.hasRoom(events)) throw new RequestError('buffer_full', 'the gateway spool is full');
      const firstSeq = spool && durability === 'disk' ? spool.append(events, true, IGNORE_COMMIT) : this.writeToRing();
      this.options.backlog?.written(firstSeq, accepted, meta.receivedAt);
      this.counted(accepted);
      this.options.acks.park(firstSeq, accepted, (outcome) => {
        if (!outcome.timedOut && outcome.deadLettered === 0) {
          counters.acknowledged.stream.inc(accepted);
          return listener.onAnswer({ status: 200, accepted });
        }
        const rest = outcome.timedOut
          ? 'the wait timed out; the rest are still queued and will be delivered (sending them again may duplicate them)'
          : `${outcome.deadLettered} passed their TTL or were refused and are in the dead-letter file`;
        listener.onAnswer({
          status: 503,
          error: new RequestError('not_confirmed', `${outcome.confirmed} of ${accepted} events were confirmed by Kinesis; ${rest}`, {
            accepted,
            confirmed: outcome.confirmed,
            deadLettered: outcome.deadLettered,
          }),
        });
      });
      return;
    }
    if (!spool || (durability === 'memory' && intoRing)) {
      if (!intoRing) throw new RequestError('buffer_full', 'the gateway buffer is full');
      const firstSeq = this.writeToRing();
      this.options.backlog?.written(firstSeq, accepted, meta.receivedAt);
      this.counted(accepted);
      counters.acknowledged.memory.inc(accepted);
      listener.onAnswer({ status: 202, accepted });
      return;
    }
    if (!spool.writable) throw new RequestError('spool_unavailable', `the spool cannot be written (${spool.failureReason}); nothing was accepted`);
    if (!spool.hasRoom(events)) throw new RequestError('buffer_full', 'the gateway buffer and its spool are full');
    const firstSeq = spool.append(events, intoRing, (error) => {
      if (error)
        return listener.onAnswer({
          status: 503,
          error: new RequestError('spool_unavailable', `the spool cannot be written (${error.message}); the events are not acknowledged`),
        });
      counters.acknowledged[durability].inc(accepted);
      listener.onAnswer({ status: 202, accepted });
    });
    if (intoRing) this.options.backlog?.written(firstSeq, accepted, meta.receivedAt);
    this.counted(accepted);
  }

  /** A ring batch was settled by the shipper. */
  settled(batch: BatchDescriptor, deadLettered: readonly number[]): void {
    this.options.acks.settle(batch.firstSeq, batch.count, deadLettered);
    this.options.backlog?.settled(batch.firstSeq, batch.count);
    this.options.spool?.settle(batch.firstSeq, batch.count);
  }

  private writeToRing(): number {
    const firstSeq = this.options.ring.nextSeq;
    this.events.write(this.options.ring);
    return firstSeq;
  }

  private counted(accepted: number): void {
    this.options.counters.eventsAccepted.inc(accepted);
    if (this.events.keyFallbacks > 0) this.options.counters.partitionKeyFallbacks.inc(this.events.keyFallbacks);
  }
}
