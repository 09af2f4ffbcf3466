// The prom-client registry served on the admin port: shared-memory metrics, main-thread gauges and
// prom-client's default process metrics.

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { METRICS } from './metric-definitions';
import type { SharedMetrics } from './shared-metrics';

export interface MainThreadGauges {
  ringUsedBytes(): number;
  ringCapacityBytes(): number;
  batchesInFlight(): number;
  workers(): number;
  spoolBytes(): number;
  spoolSegments(): number;
  spoolWritable(): number;
  ackWaiting(): number;
  oldestUnconfirmedAgeSeconds(): number;
  spoolCapacityBytes(): number;
  ready(): number;
}

export interface BuildInfo {
  readonly version: string;
  readonly uwsVersion: string;
  /** official, legacy or fallback */
  readonly uwsBuild: string;
}

export function createRegistry(shared: SharedMetrics, gauges: MainThreadGauges, build: BuildInfo): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const def of Object.values(METRICS)) {
    // prom-client prints any registered object whose get() returns a name, help, type and values.
    registry.registerMetric({
      name: def.name,
      get: async () => ({ name: def.name, help: def.help, type: def.type, values: shared.samples(def), aggregator: 'sum' }),
    } as unknown as Parameters<Registry['registerMetric']>[0]);
  }
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  gauge('gateway_ring_used_bytes', 'Bytes of the shared buffer held by events not yet confirmed by Kinesis', gauges.ringUsedBytes);
  gauge('gateway_ring_capacity_bytes', 'Size of the shared buffer', gauges.ringCapacityBytes);
  gauge('gateway_batches_in_flight', 'Batches handed to workers and not yet confirmed', gauges.batchesInFlight);
  gauge('gateway_workers', 'Shipper worker threads running', gauges.workers);
  gauge('gateway_spool_bytes', 'Bytes in spool segment files, staged appends included (0 without --spool-dir)', gauges.spoolBytes);
  gauge('gateway_spool_capacity_bytes', 'Largest size of the spool, --spool-max-bytes (0 without --spool-dir)', gauges.spoolCapacityBytes);
  gauge('gateway_spool_segments', 'Spool segment files not yet deleted', gauges.spoolSegments);
  gauge('gateway_spool_writable', '1 while the spool takes writes; 0 after a failed commit (disk full, unwritable), until one succeeds', gauges.spoolWritable);
  gauge('gateway_ack_waiting_requests', 'Requests parked for ?ack=stream, waiting for Kinesis', gauges.ackWaiting);
  gauge('gateway_ready', '1 while /readyz answers 200; 0 while starting, over the buffer high-water mark, or shutting down', gauges.ready);
  gauge(
    'gateway_oldest_unconfirmed_age_seconds',
    'Age of the oldest event accepted and not yet confirmed by Kinesis (in the buffer or the spool); 0 when none waits',
    gauges.oldestUnconfirmedAgeSeconds,
  );
  // The main thread answers every request: its event-loop delay is the gateway's own latency floor.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  gauge('gateway_event_loop_lag_seconds', 'p99 event-loop delay of the main thread since the previous scrape', () => {
    const p99 = loopDelay.count > 0 ? loopDelay.percentile(99) / 1e9 : 0;
    loopDelay.reset();
    return p99;
  });
  const info = new Gauge({
    name: 'gateway_build_info',
    help: 'Gateway version, Node.js version, uWebSockets.js version and build (official, legacy, or the slow pure-Node fallback); always 1',
    labelNames: ['version', 'node', 'uws_version', 'uws_build'],
    registers: [registry],
  });
  info.set({ version: build.version, node: process.version, uws_version: build.uwsVersion, uws_build: build.uwsBuild }, 1);
  return registry;
}
