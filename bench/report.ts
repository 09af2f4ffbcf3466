// The report of a full run: the ratios against their goals, the tables (peak unpipelined as the
// headline, pipelined as a secondary figure, CPU per request at a fixed rate), how the CPU was
// split, and a chart. Every figure is the median of the repetitions with its worst deviation.

import os from 'node:os';
import type { AggregationRun } from './aggregation';
import { acknowledgedInAll, type IsolationRun, type Run } from './measure';
import { CONNECTIONS, PIPELINED, SCENARIOS } from './scenarios';

export interface Results {
  readonly peak: Record<string, Run[]>;
  readonly fixedRate: Record<string, Run[]>;
  readonly isolation: IsolationRun[];
  readonly aggregation: AggregationRun[];
}

export interface Meta {
  readonly date: string;
  readonly quick: boolean;
  readonly durationS: number;
  /** Seconds of load before each run's window, not measured. */
  readonly warmUpS: number;
  readonly repetitions: number;
  readonly rate: number;
  /** The uWS build the bare endpoint (and so the gateway) ran on. */
  readonly uws: unknown;
}

export interface Ratio {
  readonly value: number;
  /** e.g. '<= 1.25'; the ratio is met when value satisfies it. */
  readonly goal: string;
  readonly met: boolean;
  readonly what: string;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

export function spread(values: number[]): string {
  const m = median(values);
  const worst = Math.max(...values.map((v) => Math.abs(v - m)));
  return m === 0 ? '±0%' : `±${((worst / m) * 100).toFixed(1)}%`;
}

const int = (v: number) => Math.round(v).toLocaleString('en-US');
const pct = (v: number) => `${Math.round(v)}%`;

function ratio(what: string, value: number, goal: string): Ratio {
  const [op, limit] = goal.split(' ');
  return { what, value, goal, met: op === '>=' ? value >= Number(limit) : value <= Number(limit) };
}

/** autocannon stops counting with requests in flight; those are answered and shipped too, so the stream may hold more, never fewer. */
export const deliveredAll = (r: Run) => r.delivered === undefined || r.delivered >= acknowledgedInAll(r);

/** The median of one figure over the runs. */
function medianOf(runs: readonly Run[], key: keyof Run): number {
  return median(runs.map((r) => Number(r[key] ?? 0)));
}

/** One figure's median over the runs (with its unit, if any) and its worst deviation: "14.2 µs ±6.8%". */
function figure(runs: readonly Run[], key: keyof Run, unit = ''): string {
  const values = runs.map((r) => Number(r[key] ?? 0));
  return `${median(values).toFixed(1)}${unit} ${spread(values)}`;
}

/**
 * What `--only` prints after its runs: each scenario's medians, and its main-thread CPU per request
 * over `bare`'s when `bare` ran too, the medians' ratio as the report's goal (a) takes it.
 */
export function summarizeRuns(results: Record<string, readonly Run[]>): string {
  const lines = Object.entries(results).map(
    ([name, runs]) =>
      `${name}: main thread ${figure(runs, 'mainThreadUsPerRequest', ' µs/request')}, ${int(medianOf(runs, 'requestsPerS'))} req/s (median of ${runs.length})`,
  );
  const bare = results.bare;
  if (bare && bare.length > 0) {
    const bareUs = medianOf(bare, 'mainThreadUsPerRequest');
    for (const [name, runs] of Object.entries(results)) {
      if (name !== 'bare' && runs.length > 0)
        lines.push(`${name} ÷ bare, main-thread CPU per request: ${(medianOf(runs, 'mainThreadUsPerRequest') / bareUs).toFixed(3)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

export function computeRatios(results: Results): Record<string, Ratio> {
  const peak = (name: string) => medianOf(results.peak[name], 'requestsPerS');
  const mainUs = (name: string) => medianOf(results.fixedRate[name], 'mainThreadUsPerRequest');
  const aggregation = median(results.aggregation.filter((a) => a.mode === 'random').map((a) => a.ratio));
  return {
    singleMainCpuPerRequestOverBare: ratio('(a) single ÷ bare: main-thread CPU per request at the fixed rate', mainUs('single') / mainUs('bare'), '<= 1.25'),
    singleOverBare: ratio('(b) single ÷ bare: peak req/s, unpipelined', peak('single') / peak('bare'), '>= 0.45'),
    singleOverFastifyPeer: ratio('(c) single ÷ fastify-peer: peak req/s, unpipelined', peak('single') / peak('fastify-peer'), '>= 2'),
    singleMainCpuOverFastifyPeer: ratio(
      '(c) single ÷ fastify-peer: main-thread CPU per request at the fixed rate',
      mainUs('single') / mainUs('fastify-peer'),
      '<= 0.5',
    ),
    singleOverSeedDesign: ratio('single ÷ seed-design: peak req/s, unpipelined', peak('single') / peak('seed-design'), '>= 20'),
    isolationP99SlowOverHealthy: ratio(
      'isolation: p99 with 2 s added to every Kinesis call ÷ healthy',
      median(results.isolation.map((i) => i.p99Ratio)),
      '<= 1.25',
    ),
    aggregationOverAwsKinesisAgg: ratio('aggregation: ours ÷ aws-kinesis-agg, events/s', aggregation, '>= 5'),
  };
}

/** Secondary figures without a goal. */
export function computeInformational(results: Results): Record<string, number> {
  const peak = (name: string) => medianOf(results.peak[name], 'requestsPerS');
  return {
    singlePipelinedOverBarePipelined: peak('single-pipelined') / peak('bare-pipelined'),
    singleDiskOverSingle: peak('single-disk') / peak('single'),
  };
}

export function allDelivered(results: Results): boolean {
  return (
    [...Object.values(results.peak), ...Object.values(results.fixedRate)].flat().every(deliveredAll) &&
    results.isolation.every((i) => i.delivered >= i.acknowledged)
  );
}

/** The median of errors and non-2xx answers, and the statuses of the non-2xx answers over all runs. */
function failuresCell(runs: Run[]): string {
  const total = median(runs.map((r) => r.errors + r.non2xx));
  const byStatus = new Map<string, number>();
  for (const run of runs) for (const [status, count] of Object.entries(run.non2xxByStatus ?? {})) byStatus.set(status, (byStatus.get(status) ?? 0) + count);
  if (byStatus.size === 0) return int(total);
  return `${int(total)} (${[...byStatus].map(([status, count]) => `${status}: ${int(count)}`).join(', ')} over the runs)`;
}

function deliveredCell(runs: Run[]): string {
  if (runs[0].delivered === undefined) return 'n/a';
  if (!runs.every(deliveredAll)) return 'MISSING';
  return `all (+${runs.map((r) => (r.delivered ?? 0) - acknowledgedInAll(r)).join(', ')} answered after the count stopped)`;
}

function peakRows(runsByName: Record<string, Run[]>, names: string[]): string[] {
  return names.map((name) => {
    const runs = runsByName[name];
    const med = (key: keyof Run) => medianOf(runs, key);
    const perMin = runs[0].deliveredEventsPerMin === undefined ? 'n/a' : int(med('deliveredEventsPerMin'));
    return `| ${name} | ${int(med('requestsPerS'))} ${spread(runs.map((r) => r.requestsPerS))} | ${int(med('eventsPerS') * 60)} | ${perMin} | ${med('p50Ms')} / ${med('p99Ms')} | ${failuresCell(runs)} | ${pct(med('mainThreadCpuPercent'))} | ${pct(med('otherThreadsCpuPercent'))} | ${pct(med('localKinesisCpuPercent'))} | ${pct(med('loadGeneratorCpuPercent'))} | ${pct(med('machineCpuPercent'))} | ${deliveredCell(runs)} |`;
  });
}

/** A fixed-rate run that fell short of its rate measured a saturated server, not the rate. */
const SHORT_OF_RATE = 0.95;

function fixedRows(runsByName: Record<string, Run[]>, rate: number): string[] {
  return Object.entries(runsByName).map(([name, runs]) => {
    const fig = (key: keyof Run) => figure(runs, key);
    const med = (key: keyof Run) => medianOf(runs, key);
    const short = med('requestsPerS') < rate * SHORT_OF_RATE ? ' (short of the rate)' : '';
    return `| ${name} | ${int(med('requestsPerS'))}${short} | ${med('p50Ms')} / ${med('p99Ms')} | ${fig('mainThreadUsPerRequest')} | ${fig('otherThreadsUsPerEvent')} | ${fig('localKinesisUsPerEvent')} | ${fig('loadGeneratorUsPerRequest')} | ${pct(med('machineCpuPercent'))} | ${deliveredCell(runs)} |`;
  });
}

function shortOfRate(runsByName: Record<string, Run[]>, rate: number): string[] {
  const short = Object.entries(runsByName)
    .filter(([, runs]) => medianOf(runs, 'requestsPerS') < rate * SHORT_OF_RATE)
    .map(([name]) => name);
  if (short.length === 0) return [];
  return [
    `${short.join(', ')} fell short of ${int(rate)} req/s: ${short.length === 1 ? 'that server was' : 'those servers were'} saturated (or the machine was), so the figures are CPU per request at its peak, not at the rate, and the ratios that use them compare different loads. A lower --rate compares like with like.`,
    '',
  ];
}

/** How the CPU was split during the peak single run: what limited it. */
function cpuSplit(runs: Run[]): string {
  const med = (key: keyof Run) => medianOf(runs, key);
  const parts = [med('mainThreadCpuPercent'), med('otherThreadsCpuPercent'), med('localKinesisCpuPercent'), med('loadGeneratorCpuPercent')];
  const cores = os.cpus().length;
  const together = parts.reduce((a, b) => a + b, 0);
  return (
    `How the CPU was split during peak \`single\` (percent of one core; the machine has ${cores}, ${cores * 100}% in all): ` +
    `gateway main thread ${pct(parts[0])}, its shipping threads (and GC) ${pct(parts[1])}, local Kinesis ${pct(parts[2])}, load generator ${pct(parts[3])}; ` +
    `together ${pct(together)}; the machine was ${pct(med('machineCpuPercent'))} busy over all cores, so everything else on it ` +
    `(the harness, other work) took about ${pct(Math.max(0, med('machineCpuPercent') * cores - together))} of a core.`
  );
}

/** Bars of events/min per scenario on a log scale with the 100,000/min line, and each p99 as a label. */
export function chart(rows: { name: string; eventsPerMin: number; p99Ms: number }[]): string {
  const width = 760,
    height = 60 + rows.length * 44,
    left = 140,
    right = 40;
  const max = Math.max(1e6, ...rows.map((r) => r.eventsPerMin)) * 1.5;
  const x = (v: number) => left + ((Math.log10(Math.max(v, 1e3)) - 3) / (Math.log10(max) - 3)) * (width - left - right);
  const bars = rows
    .map((r, i) => {
      const y = 40 + i * 44;
      return (
        `<text x="${left - 8}" y="${y + 20}" text-anchor="end">${r.name}</text>` +
        `<rect x="${left}" y="${y + 4}" width="${(x(r.eventsPerMin) - left).toFixed(1)}" height="24" fill="#4c78a8"/>` +
        `<text x="${(x(r.eventsPerMin) + 6).toFixed(1)}" y="${y + 20}">${int(r.eventsPerMin)}/min, p99 ${r.p99Ms} ms</text>`
      );
    })
    .join('');
  const ref = x(100_000).toFixed(1);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">` +
    `<text x="${left}" y="20" font-weight="bold">peak events per minute accepted (log scale) and p99 latency</text>${bars}` +
    `<line x1="${ref}" y1="30" x2="${ref}" y2="${height - 10}" stroke="#e45756" stroke-dasharray="4"/>` +
    `<text x="${ref}" y="${height - 2}" fill="#e45756" text-anchor="middle">100,000/min</text></svg>\n`
  );
}

export function machineLine(): string {
  return `${os.cpus().length} × ${os.cpus()[0].model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

export function buildReport(meta: Meta, results: Results): { json: { allDelivered: boolean }; markdown: string; svg: string } {
  const ratios = computeRatios(results);
  const informational = computeInformational(results);
  const machine = machineLine();
  const headline = SCENARIOS.filter((s) => s.headline).map((s) => s.name);
  const secondary = SCENARIOS.filter((s) => !s.headline).map((s) => s.name);
  const { isolation, aggregation } = results;
  const aggregationOf = (mode: string) => aggregation.filter((a) => a.mode === mode);
  const peakHeader = [
    '| scenario | requests/s | events/min accepted | events/min delivered | p50 / p99 ms | errors and non-2xx | server main thread CPU | server other threads CPU | local Kinesis CPU | load generator CPU | machine CPU (all cores) | acknowledged events on the stream |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  const markdown = [
    `# Benchmark ${meta.date}${meta.quick ? ' (quick)' : ''}`,
    '',
    `Machine: ${machine}; uWS build ${JSON.stringify(meta.uws)}. autocannon in a process of its own, ${CONNECTIONS} connections, ${meta.durationS} s per run after ${meta.warmUpS} s of warm-up, median of ${meta.repetitions} (± worst deviation). ` +
      'The servers, their local Kinesis and the load generator share the machine. CPU columns are percent of one core.',
    '',
    '| goal | value | target | met |',
    '| --- | --- | --- | --- |',
    ...Object.values(ratios).map(
      (r) => `| ${r.what} | ${r.value.toFixed(2)} | ${r.goal.replace('>=', '≥').replace('<=', '≤')} | ${r.met ? 'yes' : '**no**'} |`,
    ),
    '',
    `Without a goal: single-pipelined ÷ bare-pipelined ${informational.singlePipelinedOverBarePipelined.toFixed(2)}; single-disk ÷ single ${informational.singleDiskOverSingle.toFixed(2)}.`,
    '',
    `## Peak, one request at a time per connection (pipelining 1): the headline`,
    '',
    ...peakHeader,
    ...peakRows(results.peak, headline),
    '',
    cpuSplit(results.peak.single),
    '',
    `## Peak, pipelining ${PIPELINED}: a secondary figure (browsers and load balancers do not pipeline)`,
    '',
    ...peakHeader,
    ...peakRows(results.peak, secondary),
    '',
    `## CPU per request at a fixed ${int(meta.rate)} req/s (pipelining 1)`,
    '',
    "Main thread: the server's event loop, per answered request. Other threads: the rest of the server process (for `single` the shipping side: workers, Kinesis client, GC), per event. Local Kinesis: its process, per event.",
    '',
    '| scenario | requests/s | p50 / p99 ms | main thread µs/request | other threads µs/event | local Kinesis µs/event | load generator µs/request | machine CPU (all cores) | acknowledged events on the stream |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...fixedRows(results.fixedRate, meta.rate),
    '',
    ...shortOfRate(results.fixedRate, meta.rate),
    `Isolation: single at ${int(isolation[0].rate)} req/s (half its peak), healthy, then with 2 s added to every Kinesis call: p99 ${median(isolation.map((i) => i.healthyP99Ms))} ms → ${median(isolation.map((i) => i.slowKinesisP99Ms))} ms (${ratios.isolationP99SlowOverHealthy.value.toFixed(2)}×, target ≤ 1.25×), ${median(isolation.map((i) => i.errors))} errors; the ring filled ${isolation.map((i) => (i.ringFullAfterS === null ? 'never' : `after ${i.ringFullAfterS.toFixed(1)} s`)).join(', ')}; every acknowledged event delivered: ${isolation.every((i) => i.delivered >= i.acknowledged) ? 'yes' : 'NO'}.`,
    '',
    'Aggregation on one thread, 200-byte events, 50 KiB records, ours against aws-kinesis-agg (target ≥ 5×; ≥ 200 events per record):',
    '',
    '| keys | events | ours events/s | aws-kinesis-agg events/s | ratio | events per record |',
    '| --- | --- | --- | --- | --- | --- |',
    ...(['random', 'field'] as const).map((mode) => {
      const runs = aggregationOf(mode);
      return `| ${mode} | ${int(runs[0].events)} | ${int(median(runs.map((a) => a.oursEventsPerS)))} ${spread(runs.map((a) => a.oursEventsPerS))} | ${int(median(runs.map((a) => a.theirsEventsPerS)))} ${spread(runs.map((a) => a.theirsEventsPerS))} | ${median(runs.map((a) => a.ratio)).toFixed(2)}× | ${median(runs.map((a) => a.eventsPerRecord)).toFixed(1)} |`;
    }),
    '',
  ].join('\n');
  const json = {
    ...meta,
    machine,
    connections: CONNECTIONS,
    pipelined: PIPELINED,
    ratios,
    informational,
    allDelivered: allDelivered(results),
    aggregation,
    isolation,
    scenarios: results.peak,
    fixedRate: results.fixedRate,
  };
  const svg = chart(
    Object.keys(results.peak).map((name) => ({
      name,
      eventsPerMin: medianOf(results.peak[name], 'eventsPerS') * 60,
      p99Ms: medianOf(results.peak[name], 'p99Ms'),
    })),
  );
  return { json, markdown, svg };
}
