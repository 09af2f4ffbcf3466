// The prom-client registry served on the admin port: shared-memory metrics, main-thread gauges and
// prom-client's default process metrics.

import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { METRICS } from './metric-definitions';
import type { SharedMetrics } from './shared-metrics';

export interface MainThreadGauges {
  ringUsedBytes(): number;
  ringCapacityBytes(): number;
  batchesInFlight(): number;
}

export function createRegistry(shared: SharedMetrics, gauges: MainThreadGauges): Registry {
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
    new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
  gauge('gateway_ring_used_bytes', 'Bytes of the shared buffer held by events not yet confirmed by Kinesis', gauges.ringUsedBytes);
  gauge('gateway_ring_capacity_bytes', 'Size of the shared buffer', gauges.ringCapacityBytes);
  gauge('gateway_batches_in_flight', 'Batches handed to workers and not yet confirmed', gauges.batchesInFlight);
  return registry;
}
