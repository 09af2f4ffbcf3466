// npm run bench [-- --quick]: autocannon against the real gateway on its embedded local Kinesis,
// side by side with a bare uWebSockets.js ceiling, every run verified by reading the stream back.
// Writes bench/results/<timestamp>.json and bench/results/latest.md.

import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGateway, tapStream, type Gateway } from '../test/support/processes';
import { runAggregation, type AggregationRun } from './aggregation';

const quick = process.argv.includes('--quick');
const DURATION_S = quick ? 3 : 10;
const REPETITIONS = quick ? 1 : 3;
const CONNECTIONS = 64;
const PIPELINING = 4;
const CLOCK_TICKS_PER_S = 100;

/** 160 bytes, a typical page view. */
const EVENT = JSON.stringify({ type: 'page_view', url: 'https://example.com/products/123?ref=home', referrer: 'https://example.com/', screen: '1920x1080', session: 'b2c1f0a4e5d6' });
const BATCH = Array.from({ length: 100 }, () => EVENT).join('\n');

interface Target {
  readonly url: string;
  readonly pid: number;
  readonly gateway?: Gateway;
  stop(): Promise<void>;
}

interface Scenario {
  readonly name: string;
  readonly body: string;
  readonly contentType: string;
  readonly eventsPerRequest: number;
  start(stream: string): Promise<Target>;
}

interface Run {
  requestsPerS: number;
  eventsPerS: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
  cpuUsPerEvent: number;
  loadGeneratorCpuPercent: number;
  acknowledged: number;
  delivered?: number;
  deliveredEventsPerMin?: number;
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S; // utime + stime of all threads
}

async function startCeiling(): Promise<Target> {
  const child = spawn(process.execPath, [path.join(__dirname, 'ceiling-server.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout }).once('line', resolve));
  const { port } = JSON.parse(line);
  return {
    url: `http://127.0.0.1:${port}/v1/events`,
    pid: child.pid!,
    stop: async () => {
      child.kill();
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

async function startGatewayTarget(stream: string): Promise<Target> {
  // 16 shards: the pacer holds each shard to Kinesis's 1 MiB/s, and 3M events/min of ~280 bytes is ~14 MB/s.
  const gateway = await startGateway(['--stream', stream, '--local-kinesis-shards', '16']);
  return { url: gateway.url('/v1/events'), pid: gateway.child.pid!, gateway, stop: async () => void (await gateway.kill('SIGINT')) };
}

const SCENARIOS: Scenario[] = [
  { name: 'ceiling', body: EVENT, contentType: 'application/json', eventsPerRequest: 1, start: startCeiling },
  { name: 'single', body: EVENT, contentType: 'application/json', eventsPerRequest: 1, start: startGatewayTarget },
  { name: 'batch', body: BATCH, contentType: 'application/x-ndjson', eventsPerRequest: 100, start: startGatewayTarget },
];

async function ringEmpty(gateway: Gateway, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = await (await fetch(gateway.adminUrl('/metrics'))).text();
    if (/^gateway_ring_used_bytes 0$/m.test(text)) return true;
    await sleep(200);
  }
  return false;
}

async function runOnce(scenario: Scenario, repetition: number): Promise<Run> {
  const stream = `bench-${scenario.name}-${repetition}`;
  const target = await scenario.start(stream);
  try {
    const cpuBefore = cpuSeconds(target.pid);
    const loadBefore = process.cpuUsage();
    const started = Date.now();
    const result = await autocannon({
      url: target.url, method: 'POST', body: scenario.body, headers: { 'content-type': scenario.contentType },
      connections: CONNECTIONS, pipelining: PIPELINING, duration: DURATION_S,
    });
    const load = process.cpuUsage(loadBefore);
    const acknowledged = result['2xx'] * scenario.eventsPerRequest;
    const run: Run = {
      requestsPerS: result.requests.average,
      eventsPerS: result.requests.average * scenario.eventsPerRequest,
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
      errors: result.errors + result.timeouts,
      non2xx: result.non2xx,
      cpuUsPerEvent: ((cpuSeconds(target.pid) - cpuBefore) * 1e6) / Math.max(1, acknowledged),
      loadGeneratorCpuPercent: ((load.user + load.system) / 1000 / (result.duration * 1000)) * 100,
      acknowledged,
    };
    if (target.gateway) {
      // Delivery is part of every run: the acknowledged count must come back from the stream.
      const emptied = await ringEmpty(target.gateway, 600_000);
      const shippedAt = Date.now();
      const envelopes = await tapStream(target.gateway.kinesisEndpoint, stream, 3);
      run.delivered = new Set(envelopes.map((e) => e.id)).size;
      run.deliveredEventsPerMin = emptied ? (run.delivered / ((shippedAt - started) / 1000)) * 60 : 0;
    }
    return run;
  } finally {
    await target.stop();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function spread(values: number[]): string {
  const m = median(values);
  const worst = Math.max(...values.map((v) => Math.abs(v - m)));
  return m === 0 ? '±0%' : `±${((worst / m) * 100).toFixed(1)}%`;
}

async function main(): Promise<void> {
  const aggregation: AggregationRun[] = [];
  for (const mode of ['random', 'field'] as const) {
    for (let r = 0; r < REPETITIONS; r++) {
      const run = runAggregation(quick ? 100_000 : 1_000_000, mode);
      aggregation.push(run);
      process.stderr.write(`aggregation ${mode} #${r + 1}: ours ${Math.round(run.oursEventsPerS)} events/s, aws-kinesis-agg ${Math.round(run.theirsEventsPerS)} events/s, ${run.ratio.toFixed(2)}x, ${run.eventsPerRecord.toFixed(1)} events per record\n`);
    }
  }
  const results: Record<string, Run[]> = {};
  for (const scenario of SCENARIOS) {
    results[scenario.name] = [];
    for (let r = 0; r < REPETITIONS; r++) {
      const run = await runOnce(scenario, r);
      results[scenario.name].push(run);
      process.stderr.write(`${scenario.name} #${r + 1}: ${Math.round(run.requestsPerS)} req/s, ${Math.round(run.eventsPerS)} events/s, p99 ${run.p99Ms} ms, ${run.cpuUsPerEvent.toFixed(1)} µs CPU/event, delivered ${run.delivered ?? '-'} of ${run.acknowledged}\n`);
    }
  }
  const med = (name: string, key: keyof Run) => median(results[name].map((r) => Number(r[key] ?? 0)));
  const aggregationOf = (mode: string) => aggregation.filter((a) => a.mode === mode);
  const aggregationRatio = median(aggregationOf('random').map((a) => a.ratio));
  const ratios = { singleOverCeiling: med('single', 'requestsPerS') / med('ceiling', 'requestsPerS'), aggregationOverAwsKinesisAgg: aggregationRatio };
  // autocannon stops counting with requests still in flight; the gateway answers and ships those
  // too, so the stream may hold a few more than were counted, never fewer.
  const deliveredAll = (r: Run) => r.delivered === undefined || r.delivered >= r.acknowledged;
  const allDelivered = Object.values(results).flat().every(deliveredAll);
  const machine = `${os.cpus().length} × ${os.cpus()[0].model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const report = { date: new Date().toISOString(), machine, quick, durationS: DURATION_S, repetitions: REPETITIONS, connections: CONNECTIONS, pipelining: PIPELINING, ratios, allDelivered, aggregation, scenarios: results };
  writeFileSync(path.join(__dirname, '..', '..', 'bench', 'results', `${stamp}.json`), JSON.stringify(report, null, 2));

  const rows = SCENARIOS.map(({ name }) => {
    const runs = results[name];
    const uncounted = runs.map((r) => (r.delivered ?? 0) - r.acknowledged).join(', ');
    const delivered = runs[0].delivered === undefined ? 'n/a' : runs.every(deliveredAll) ? `all (+${uncounted} answered after the count stopped)` : 'MISSING';
    const perMin = runs[0].deliveredEventsPerMin === undefined ? 'n/a' : Math.round(med(name, 'deliveredEventsPerMin')).toLocaleString('en-US');
    return `| ${name} | ${Math.round(med(name, 'requestsPerS')).toLocaleString('en-US')} ${spread(runs.map((r) => r.requestsPerS))} | ${Math.round(med(name, 'eventsPerS') * 60).toLocaleString('en-US')} | ${perMin} | ${med(name, 'p50Ms')} / ${med(name, 'p99Ms')} | ${med(name, 'errors') + med(name, 'non2xx')} | ${med(name, 'cpuUsPerEvent').toFixed(1)} | ${Math.round(med(name, 'loadGeneratorCpuPercent'))}% | ${delivered} |`;
  });
  const markdown = [
    `# Benchmark ${report.date}${quick ? ' (quick)' : ''}`,
    '',
    `Machine: ${machine}. autocannon in the harness process, ${CONNECTIONS} connections × pipelining ${PIPELINING}, ${DURATION_S} s per run, median of ${REPETITIONS} (± worst deviation).`,
    '',
    '| scenario | requests/s | events/min accepted | events/min delivered | p50 / p99 ms | errors and non-2xx | gateway CPU µs/event | load generator CPU | acknowledged events on the stream |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    `single ÷ ceiling: ${ratios.singleOverCeiling.toFixed(2)}. Reference: 100,000 events/min.`,
    '',
    'Aggregation on one thread, 200-byte events, 50 KiB records, ours against aws-kinesis-agg (target ≥ 5×; ≥ 200 events per record):',
    '',
    '| keys | events | ours events/s | aws-kinesis-agg events/s | ratio | events per record |',
    '| --- | --- | --- | --- | --- | --- |',
    ...(['random', 'field'] as const).map((mode) => {
      const runs = aggregationOf(mode);
      return `| ${mode} | ${runs[0].events.toLocaleString('en-US')} | ${Math.round(median(runs.map((a) => a.oursEventsPerS))).toLocaleString('en-US')} ${spread(runs.map((a) => a.oursEventsPerS))} | ${Math.round(median(runs.map((a) => a.theirsEventsPerS))).toLocaleString('en-US')} ${spread(runs.map((a) => a.theirsEventsPerS))} | ${median(runs.map((a) => a.ratio)).toFixed(2)}× | ${median(runs.map((a) => a.eventsPerRecord)).toFixed(1)} |`;
    }),
    '',
  ].join('\n');
  writeFileSync(path.join(__dirname, '..', '..', 'bench', 'results', 'latest.md'), markdown);
  process.stdout.write(markdown);
  if (!allDelivered) {
    process.stderr.write('delivery check FAILED: some acknowledged events are not on the stream\n');
    process.exit(1);
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
