// Counting answers by route and status, and refused events by reason, with handles made once.
// Only the main thread counts and reads these: its handles count locally until read.

import { performance } from 'node:perf_hooks';
import type { ErrorCode } from '../errors';
import { METRICS, REJECT_REASONS, ROUTES, STATUSES } from '../metrics/metric-definitions';
import type { CounterHandle, HistogramHandle, SharedMetrics } from '../metrics/shared-metrics';

export type Route = (typeof ROUTES)[number];

export class RequestMetrics {
  /** Per route, the counters of its answers indexed by status (an object, not a map: read for every answer). */
  private readonly answered: Record<string, CounterHandle[]> = Object.create(null);
  private readonly rejected = new Map<string, CounterHandle>();
  readonly corsRefused: CounterHandle;
  private readonly eventRequestDuration: HistogramHandle;

  constructor(metrics: SharedMetrics) {
    for (const route of ROUTES) {
      const byStatus: CounterHandle[] = [];
      for (const status of STATUSES) byStatus[Number(status)] = metrics.localCounter(METRICS.requests, route, status);
      this.answered[route] = byStatus;
    }
    for (const reason of REJECT_REASONS) this.rejected.set(reason, metrics.localCounter(METRICS.eventsRejected, reason));
    this.corsRefused = metrics.localCounter(METRICS.corsRefused);
    this.eventRequestDuration = metrics.localHistogram(METRICS.requestDuration);
  }

  answer(route: Route, status: number): void {
    this.answered[route]?.[status]?.inc();
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
