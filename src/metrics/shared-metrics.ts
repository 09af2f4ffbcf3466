// Counters and histograms in one SharedArrayBuffer, updated with Atomics by every thread and read
// by the main thread when /metrics is scraped: a scrape never waits on a worker, and a worker that
// dies loses none of the counts it made.

import { METRICS, type MetricDefinition } from './metric-definitions';

interface Placement {
  readonly base: number;
  /** Slots one label combination takes: 1 for a counter; buckets + count + sum for a histogram. */
  readonly width: number;
}

/** Histogram sums are kept in millionths: Atomics has no floating-point add. */
const SUM_SCALE = 1e6;

function placeAll(): { placements: Map<MetricDefinition, Placement>; slots: number } {
  const placements = new Map<MetricDefinition, Placement>();
  let next = 0;
  for (const def of Object.values(METRICS)) {
    const combinations = def.labelValues.reduce((n, values) => n * values.length, 1);
    const width = def.type === 'histogram' ? def.buckets!.length + 3 : 1; // + the +Inf bucket, count, sum
    placements.set(def, { base: next, width });
    next += combinations * width;
  }
  return { placements, slots: next };
}

const { placements, slots: SLOT_COUNT } = placeAll();

/** BigInt(n) allocates: most updates add one. */
function big(n: number): bigint {
  return n === 1 ? 1n : BigInt(n);
}

export class CounterHandle {
  constructor(
    private readonly cells: BigInt64Array,
    private readonly slot: number,
  ) {}
  inc(by = 1): void {
    Atomics.add(this.cells, this.slot, big(by));
  }
}

export class HistogramHandle {
  constructor(
    protected readonly cells: BigInt64Array,
    protected readonly slot: number,
    protected readonly buckets: readonly number[],
  ) {}
  /** Records `times` observations of the same value. */
  observe(value: number, times = 1): void {
    const bucket = this.bucketOf(value);
    Atomics.add(this.cells, this.slot + bucket, big(times));
    this.addCountAndSum(big(times), value * SUM_SCALE * times);
  }

  /** Adds to the count and to the sum (given times SUM_SCALE), the cells after the buckets. */
  protected addCountAndSum(count: bigint, scaledSum: number): void {
    Atomics.add(this.cells, this.slot + this.buckets.length + 1, count);
    Atomics.add(this.cells, this.slot + this.buckets.length + 2, BigInt(Math.round(scaledSum)));
  }

  /** The first bucket whose upper bound holds `value`; buckets.length for +Inf. */
  protected bucketOf(value: number): number {
    let bucket = 0;
    while (bucket < this.buckets.length && value > this.buckets[bucket]) bucket++;
    return bucket;
  }
}

/**
 * Local handles of this thread with counts not yet added to the shared cells. The main thread's
 * per-request counters count locally (an Atomics.add on a BigInt64Array allocates a BigInt per
 * call) and are added whenever this thread reads the metrics: it is the only one that reads them.
 */
const unflushed: { flush(): void }[] = [];

function flushLocalHandles(): void {
  for (const handle of unflushed) handle.flush();
  unflushed.length = 0;
}

class LocalCounterHandle extends CounterHandle {
  private pending = 0;

  override inc(by = 1): void {
    // Listed once while it has a count to add: the list stays as short as the handles.
    if (this.pending === 0 && by !== 0) unflushed.push(this);
    this.pending += by;
  }

  flush(): void {
    super.inc(this.pending);
    this.pending = 0;
  }
}

class LocalHistogramHandle extends HistogramHandle {
  private readonly pendingBuckets = new Float64Array(this.buckets.length + 1);
  private pendingCount = 0;
  private pendingSum = 0;

  override observe(value: number, times = 1): void {
    if (this.pendingCount === 0 && times !== 0) unflushed.push(this);
    this.pendingBuckets[this.bucketOf(value)] += times;
    this.pendingCount += times;
    this.pendingSum += value * times;
  }

  flush(): void {
    for (let bucket = 0; bucket < this.pendingBuckets.length; bucket++) {
      if (this.pendingBuckets[bucket] !== 0) Atomics.add(this.cells, this.slot + bucket, BigInt(this.pendingBuckets[bucket]));
    }
    this.addCountAndSum(BigInt(this.pendingCount), this.pendingSum * SUM_SCALE);
    this.pendingBuckets.fill(0);
    this.pendingCount = 0;
    this.pendingSum = 0;
  }
}

export interface MetricSample {
  readonly metricName: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

export class SharedMetrics {
  readonly buffer: SharedArrayBuffer;
  private readonly cells: BigInt64Array;

  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(SLOT_COUNT * 8);
    this.cells = new BigInt64Array(this.buffer);
  }

  counter(def: MetricDefinition, ...labelValues: string[]): CounterHandle {
    return new CounterHandle(this.cells, this.slotOf(def, labelValues));
  }

  histogram(def: MetricDefinition, ...labelValues: string[]): HistogramHandle {
    return new HistogramHandle(this.cells, this.slotOf(def, labelValues), def.buckets!);
  }

  /** A counter only this thread updates and reads (the main thread's per-request counts): counted locally until read. */
  localCounter(def: MetricDefinition, ...labelValues: string[]): CounterHandle {
    return new LocalCounterHandle(this.cells, this.slotOf(def, labelValues));
  }

  /** A histogram only this thread updates and reads: observed locally until read. */
  localHistogram(def: MetricDefinition, ...labelValues: string[]): HistogramHandle {
    return new LocalHistogramHandle(this.cells, this.slotOf(def, labelValues), def.buckets!);
  }

  /** Current samples of one metric, in the shape prom-client's registry prints. */
  samples(def: MetricDefinition): MetricSample[] {
    flushLocalHandles();
    const out: MetricSample[] = [];
    const { base, width } = placements.get(def)!;
    forEachCombination(def.labelValues, (index, values) => {
      const labels = Object.fromEntries(def.labels.map((name, i) => [name, values[i]]));
      const slot = base + index * width;
      if (def.type === 'counter') {
        const value = Number(Atomics.load(this.cells, slot));
        if (value !== 0 || !def.sparse) out.push({ metricName: def.name, labels, value });
        return;
      }
      const buckets = def.buckets!;
      let cumulative = 0;
      for (let b = 0; b <= buckets.length; b++) {
        cumulative += Number(Atomics.load(this.cells, slot + b));
        const le = b < buckets.length ? String(buckets[b]) : '+Inf';
        out.push({ metricName: `${def.name}_bucket`, labels: { ...labels, le }, value: cumulative });
      }
      out.push({ metricName: `${def.name}_count`, labels, value: Number(Atomics.load(this.cells, slot + buckets.length + 1)) });
      out.push({ metricName: `${def.name}_sum`, labels, value: Number(Atomics.load(this.cells, slot + buckets.length + 2)) / SUM_SCALE });
    });
    return out;
  }

  /** A counter's value summed over all its labels. */
  total(def: MetricDefinition): number {
    return this.samples(def).reduce((sum, sample) => sum + sample.value, 0);
  }

  private slotOf(def: MetricDefinition, labelValues: readonly string[]): number {
    const placement = placements.get(def);
    if (!placement) throw new Error(`unknown metric ${def.name}`);
    if (labelValues.length !== def.labels.length) throw new Error(`${def.name} takes labels ${def.labels.join(', ')}`);
    let index = 0;
    def.labelValues.forEach((allowed, i) => {
      const at = allowed.indexOf(labelValues[i]);
      if (at < 0) throw new Error(`${def.name}: ${def.labels[i]}=${labelValues[i]} is not one of ${allowed.join(', ')}`);
      index = index * allowed.length + at;
    });
    return placement.base + index * placement.width;
  }
}

function forEachCombination(labelValues: readonly (readonly string[])[], fn: (index: number, values: string[]) => void): void {
  const total = labelValues.reduce((n, values) => n * values.length, 1);
  for (let index = 0; index < total; index++) {
    const values: string[] = [];
    let rest = index;
    for (let i = labelValues.length - 1; i >= 0; i--) {
      values[i] = labelValues[i][rest % labelValues[i].length];
      rest = Math.floor(rest / labelValues[i].length);
    }
    fn(index, values);
  }
}
