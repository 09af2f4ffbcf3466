// npm run bench [-- --quick] [--out DIR]: the gateway on its embedded local Kinesis against a bare
// uWS endpoint on the same build, a fastify peer and the seed design, loaded by autocannon in a
// process of its own; one request at a time per connection as the headline, pipelined as a
// secondary figure, and CPU per request at a fixed rate. Every run is verified by reading the
// stream back. Writes <out>/<timestamp>.json, <out>/latest.md and <out>/latest.svg (out:
// bench/results unless --out says otherwise).
//
//   --quick                 1 repetition of 3 s per run (CI's smoke run)
//   --out DIR               where the report goes
//   --rate N                the fixed rate of the CPU-per-request runs (default 10000 req/s)
//   --only a,b [--rate N]   just those scenarios (at that fixed rate if given), no report: their
//                           medians, and each one's main-thread CPU per request over bare's
//   --repetitions N         runs of each scenario (default 3; 1 with --quick)
//   --isolation-only N      just the isolation runs at N req/s, no report
//   --outage [--outage-s S --rate N --shards K]  Kinesis frozen for S s (300) at N events/s (5000), disk durability

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runAggregation, type AggregationRun } from './aggregation';
import { runOutageBenchmark } from './outage';
import { acknowledgedInAll, runIsolation, runOnce, type IsolationRun, type Run } from './measure';
import { buildReport, median, summarizeRuns } from './report';
import { FIXED_RATE_SCENARIOS, SCENARIOS, scenario } from './scenarios';

function option(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  if (at < 0) return undefined;
  const value = process.argv[at + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`${name} needs a value`);
  return value;
}

function repetitions(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9][0-9]*$/.test(value)) throw new Error(`--repetitions needs a whole number of runs, at least 1, not ${value}`);
  return Number(value);
}

const quick = process.argv.includes('--quick');
const DURATION_S = quick ? 3 : 10;
/**
 * Seconds of load before each measured window, at its rate. A fresh server compiles the code it
 * runs in its first second: at 10,000 req/s the gateway's main thread spent 12.7-13.1 µs per
 * request in it and 9.7-10.4 over the ten seconds after the second (`bare` 9.1-9.2 and 8.4-8.6), a
 * cost of starting a process, not of a request.
 */
const WARM_UP_S = quick ? 1 : 2;
const REPETITIONS = repetitions(option('--repetitions')) ?? (quick ? 1 : 3);
const DEFAULT_RATE = 10_000;
const OUT = path.resolve(option('--out') ?? path.join(__dirname, '..', '..', 'bench', 'results'));

function nonSuccesses(run: Run): string {
  const statuses = Object.entries(run.non2xxByStatus);
  return statuses.length === 0 ? '' : `, non-2xx ${statuses.map(([status, count]) => `${status}: ${count}`).join(', ')}`;
}

function describe(name: string, r: number, run: Run): string {
  const at = run.rate ? ` at ${run.rate} req/s` : '';
  return (
    `${name}${at} #${r + 1}: ${Math.round(run.requestsPerS)} req/s, ${Math.round(run.eventsPerS)} events/s, p99 ${run.p99Ms} ms, ` +
    `main thread ${Math.round(run.mainThreadCpuPercent)}% (${run.mainThreadUsPerRequest.toFixed(1)} µs/request), other threads ${Math.round(run.otherThreadsCpuPercent)}% (${run.otherThreadsUsPerEvent.toFixed(1)} µs/event), ` +
    `local Kinesis ${Math.round(run.localKinesisCpuPercent)}% (${run.localKinesisUsPerEvent.toFixed(1)} µs/event), load generator ${Math.round(run.loadGeneratorCpuPercent)}%, machine ${Math.round(run.machineCpuPercent)}%, ` +
    `delivered ${run.delivered ?? '-'} of ${acknowledgedInAll(run)}${nonSuccesses(run)}\n`
  );
}

/**
 * Runs each scenario REPETITIONS times, in rounds (every scenario once, then again): the ratios
 * compare scenarios, and a machine that drifts over minutes then moves both sides of each ratio.
 */
async function runScenarios(names: readonly string[], rate?: number): Promise<Record<string, Run[]>> {
  const results: Record<string, Run[]> = Object.fromEntries(names.map((name) => [name, []]));
  for (let r = 0; r < REPETITIONS; r++) {
    for (const name of names) {
      const run = await runOnce(scenario(name), r, DURATION_S, WARM_UP_S, rate);
      results[name].push(run);
      process.stderr.write(describe(name, r, run));
    }
  }
  return results;
}

function printIsolation(run: IsolationRun, repetition: number): void {
  process.stderr.write(
    `isolation #${repetition + 1}: ${run.rate} req/s, p99 healthy ${run.healthyP99Ms} ms, with 2 s Kinesis latency ${run.slowKinesisP99Ms} ms (${run.p99Ratio.toFixed(2)}x), ${run.errors} errors, ring full after ${run.ringFullAfterS ?? 'never'} s, delivered ${run.delivered} of ${run.acknowledged}\n`,
  );
}

async function main(): Promise<void> {
  // --outage: issue 14's outage benchmark on its own (bench/outage.ts), no report.
  if (process.argv.includes('--outage')) return runOutageBenchmark();
  // --isolation-only <req/s>: just the isolation runs at that rate, no report (to compare shipper changes).
  const isolationOnly = option('--isolation-only');
  if (isolationOnly !== undefined) {
    for (let r = 0; r < REPETITIONS; r++) printIsolation(await runIsolation(Number(isolationOnly), r, DURATION_S, WARM_UP_S), r);
    return;
  }
  const rateOption = option('--rate');
  const rate = rateOption === undefined ? undefined : Number(rateOption);
  // --only <scenario,…> [--rate <req/s>]: just those scenarios, no report, to compare request-path
  // changes. At a fixed rate below the peak, CPU µs per request varies far less than the peak does.
  const only = option('--only')?.split(',');
  if (only) {
    only.forEach(scenario); // every name known before anything runs
    process.stdout.write(summarizeRuns(await runScenarios(only, rate)));
    return;
  }

  const aggregation: AggregationRun[] = [];
  for (const mode of ['random', 'field'] as const) {
    for (let r = 0; r < REPETITIONS; r++) {
      const run = runAggregation(quick ? 100_000 : 1_000_000, mode);
      aggregation.push(run);
      process.stderr.write(
        `aggregation ${mode} #${r + 1}: ours ${Math.round(run.oursEventsPerS)} events/s, aws-kinesis-agg ${Math.round(run.theirsEventsPerS)} events/s, ${run.ratio.toFixed(2)}x, ${run.eventsPerRecord.toFixed(1)} events per record\n`,
      );
    }
  }
  const peak = await runScenarios(SCENARIOS.map((s) => s.name));
  const fixedRate = await runScenarios(FIXED_RATE_SCENARIOS, rate ?? DEFAULT_RATE);
  const isolation: IsolationRun[] = [];
  for (let r = 0; r < REPETITIONS; r++) {
    const run = await runIsolation(Math.round(median(peak.single.map((p) => p.requestsPerS)) / 2), r, DURATION_S, WARM_UP_S);
    isolation.push(run);
    printIsolation(run, r);
  }

  const date = new Date().toISOString();
  const results = { peak, fixedRate, isolation, aggregation };
  const meta = { date, quick, durationS: DURATION_S, warmUpS: WARM_UP_S, repetitions: REPETITIONS, rate: rate ?? DEFAULT_RATE, uws: peak.bare[0].server?.uws };
  const { json, markdown, svg } = buildReport(meta, results);
  mkdirSync(OUT, { recursive: true });
  writeFileSync(path.join(OUT, `${date.replace(/[:.]/g, '-')}.json`), JSON.stringify(json, null, 2));
  writeFileSync(path.join(OUT, 'latest.md'), markdown);
  writeFileSync(path.join(OUT, 'latest.svg'), svg);
  process.stdout.write(markdown);
  process.stderr.write(`report written to ${OUT}\n`);
  if (!json.allDelivered) {
    process.stderr.write('delivery check FAILED: some acknowledged events are not on the stream\n');
    process.exit(1);
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
