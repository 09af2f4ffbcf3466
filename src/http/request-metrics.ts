// Counting answers by route and status, and refused events by reason, with handles made once.

import { performance } from 'node:perf_hooks';
import type { ErrorCode } from '../errors';
import { METRICS, REJECT_REASONS, ROUTES, STATUSES } from '../metrics/metric-definitions';
import type { CounterHandle, HistogramHandle, SharedMetrics } from '../metrics/shared-metrics';

export type Route = (typeof ROUTES)[number];

export class RequestMetrics {
  /** Per route, the counters of its answers indexed by status. */
  private readonly answered = new Map<Route, CounterHandle[]>();
  private readonly rejected = new Map<string, CounterHandle>();
  readonly corsRefused: CounterHandle;
  private readonly eventRequestDuration: HistogramHandle;

  constructor(metrics: SharedMetrics) {
    for (const route of ROUTES) {
      const byStatus: CounterHandle[] = [];
      for (const status of STATUSES) byStatus[Number(status)] = metrics.counter(METRICS.requests, route, status);
      this.answered.set(route, byStatus);
    }
    for (const reason of REJECT_REASONS) this.rejected.set(reason, metrics.counter(METRICS.eventsRejected, reason));
    this.corsRefused = metrics.counter(METRICS.corsRefused);
    this.eventRequestDuration = metrics.histogram(METRICS.requestDuration);
  }

  answer(route: Route, status: number): void {
    this.answered.get(route)?.[status]?.inc();
  }

  /** An answer to POST /v1/events, timed from `startedMs` (performance.now() at its headers). */
  answerEvents(status: number, startedMs: number): void {
    this.answerTimed('/v1/events', status, startedMs);
  }

  /** An answer to an event POST on `route`, timed from `startedMs`. */
  answerTimed(route: Route, status: number, startedMs: number): void {
    this.answer(route, status);
    this.eventRequestDuration.observe((performance.now() - startedMs) / 1000);
  }

  reject(reason: ErrorCode): void {
    this.rejected.get(reason)?.inc();
  }
}
