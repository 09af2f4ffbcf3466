// npm run bench [-- --quick]: autocannon against the real gateway on its embedded local Kinesis,
// side by side with a bare endpoint on the same uWS build, every run verified by reading the stream back.
// Writes bench/results/<timestamp>.json and bench/results/latest.md.

import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitUntilShipped } from '../test/support/load';
import { startGateway, startLocalKinesis, tapStream } from '../test/support/processes';
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
  /** Base URL of the server under load. */
  readonly url: string;
  readonly pid: number;
  /** Where its events land, to verify delivery; none for the bare endpoint. */
  readonly stream?: { readonly endpoint: string; readonly name: string; drained(): Promise<boolean> };
  /** The gateway's /metrics. */
  readonly metricsUrl?: string;
  stop(): Promise<void>;
}

interface Scenario {
  readonly name: string;
  readonly method: 'POST' | 'GET';
  readonly path: string;
  readonly body?: string;
  readonly contentType?: string;
  readonly eventsPerRequest: number;
  /** Answers come later than the request handler returns: uWS closes a connection that pipelines behind one. */
  readonly asyncAnswers?: boolean;
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
  /** The server's main thread (the event loop answering requests), percent of one core. */
  mainThreadCpuPercent: number;
  loadGeneratorCpuPercent: number;
  /** All cores, every process: at 100% the machine itself is the limit. */
  machineCpuPercent: number;
  acknowledged: number;
  delivered?: number;
  deliveredEventsPerMin?: number;
}

/** CPU seconds of a process (all its threads), or of one thread with `/task/<tid>` appended to the pid. */
function cpuSeconds(pid: number | string): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S; // utime + stime
}

/** Busy and total CPU seconds of the whole machine, all cores. */
function machineCpuSeconds(): { busy: number; total: number } {
  const ticks = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
  const total = ticks.reduce((sum, t) => sum + t, 0);
  const idle = ticks[3] + ticks[4]; // idle + iowait
  return { busy: (total - idle) / CLOCK_TICKS_PER_S, total: total / CLOCK_TICKS_PER_S };
}

/** Starts a child that prints {"port":…} on its first line. */
async function startChild(script: string, args: string[]): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [path.join(__dirname, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout }).once('line', resolve));
  return {
    port: JSON.parse(line).port,
    pid: child.pid!,
    stop: async () => {
      child.kill();
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

async function startBare(): Promise<Target> {
  const child = await startChild('bare-server.js', []);
  return { url: `http://127.0.0.1:${child.port}`, pid: child.pid, stop: child.stop };
}

async function startSeedDesign(stream: string): Promise<Target> {
  const kinesis = await startLocalKinesis(stream, 16);
  const child = await startChild('seed-design-server.js', [kinesis.endpoint, stream]);
  return {
    url: `http://127.0.0.1:${child.port}`,
    pid: child.pid,
    // It answers only after PutRecord: nothing is left to ship when the load stops.
    stream: { endpoint: kinesis.endpoint, name: stream, drained: async () => true },
    stop: async () => {
      await child.stop();
      await kinesis.kill();
    },
  };
}

async function startGatewayTarget(stream: string, kinesisEndpoint?: string, extraArgs: string[] = []): Promise<Target> {
  // 16 shards: the pacer holds each shard to Kinesis's 1 MiB/s, and 3M events/min of ~280 bytes is ~14 MB/s.
  const gateway = await startGateway(['--stream', stream, ...(kinesisEndpoint ? ['--kinesis-endpoint', kinesisEndpoint] : ['--local-kinesis-shards', '16']), ...extraArgs]);
  return {
    url: gateway.url(''),
    pid: gateway.child.pid!,
    stream: { endpoint: gateway.kinesisEndpoint, name: stream, drained: () => waitUntilShipped(gateway, 600_000).then(() => true, () => false) },
    metricsUrl: gateway.adminUrl('/metrics'),
    stop: async () => void (await gateway.kill('SIGINT')),
  };
}

const SCENARIOS: Scenario[] = [
  { name: 'bare', method: 'POST', path: '/v1/events', body: EVENT, contentType: 'application/json', eventsPerRequest: 1, start: startBare },
  { name: 'single', method: 'POST', path: '/v1/events', body: EVENT, contentType: 'application/json', eventsPerRequest: 1, start: (stream) => startGatewayTarget(stream) },
  { name: 'batch', method: 'POST', path: '/v1/events', body: BATCH, contentType: 'application/x-ndjson', eventsPerRequest: 100, start: (stream) => startGatewayTarget(stream) },
  {
    name: 'single-disk', method: 'POST', path: '/v1/events', body: EVENT, contentType: 'application/json', eventsPerRequest: 1, asyncAnswers: true,
    start: (stream) => startGatewayTarget(stream, undefined, ['--durability', 'disk', '--spool-dir', mkdtempSync(path.join(os.tmpdir(), 'bench-spool-'))]),
  },
  { name: 'seed-design', method: 'POST', path: '/v1/events', body: EVENT, contentType: 'application/json', eventsPerRequest: 1, start: startSeedDesign },
  { name: 'pixel', method: 'GET', path: '/v1/pixel.gif?e=page_view&url=%2Fproducts%2F123&ref=home&screen=1920x1080', eventsPerRequest: 1, start: (stream) => startGatewayTarget(stream) },
];

async function load(target: Target, scenario: Scenario, overallRate?: number) {
  return autocannon({
    url: target.url + scenario.path, method: scenario.method, body: scenario.body,
    headers: scenario.contentType ? { 'content-type': scenario.contentType } : {},
    connections: CONNECTIONS, pipelining: overallRate || scenario.asyncAnswers ? 1 : PIPELINING, duration: DURATION_S, overallRate,
  });
}

async function measure(scenario: Scenario, target: Target, overallRate?: number): Promise<Run> {
  const mainThread = `${target.pid}/task/${target.pid}`;
  const cpuBefore = cpuSeconds(target.pid);
  const mainBefore = cpuSeconds(mainThread);
  const machineBefore = machineCpuSeconds();
  const loadBefore = process.cpuUsage();
  const started = Date.now();
  const result = await load(target, scenario, overallRate);
  const loadCpu = process.cpuUsage(loadBefore);
  const machineAfter = machineCpuSeconds();
  const acknowledged = result['2xx'] * scenario.eventsPerRequest;
  const run: Run = {
    requestsPerS: result.requests.average,
    eventsPerS: result.requests.average * scenario.eventsPerRequest,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    cpuUsPerEvent: ((cpuSeconds(target.pid) - cpuBefore) * 1e6) / Math.max(1, acknowledged),
    mainThreadCpuPercent: ((cpuSeconds(mainThread) - mainBefore) / result.duration) * 100,
    loadGeneratorCpuPercent: ((loadCpu.user + loadCpu.system) / 1000 / (result.duration * 1000)) * 100,
    machineCpuPercent: ((machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total)) * 100,
    acknowledged,
  };
  if (target.stream) {
    // Delivery is part of every run: the acknowledged count must come back from the stream.
    const drained = await target.stream.drained();
    const shippedAt = Date.now();
    const envelopes = await tapStream(target.stream.endpoint, target.stream.name, 3);
    run.delivered = new Set(envelopes.map((e) => e.id)).size;
    run.deliveredEventsPerMin = drained ? (run.delivered / ((shippedAt - started) / 1000)) * 60 : 0;
  }
  return run;
}

async function runOnce(scenario: Scenario, repetition: number, rate?: number): Promise<Run> {
  const target = await scenario.start(`bench-${scenario.name}-${repetition}`);
  try {
    return await measure(scenario, target, rate);
  } finally {
    await target.stop();
  }
}

interface IsolationRun {
  rate: number;
  healthyP99Ms: number;
  slowKinesisP99Ms: number;
  p99Ratio: number;
  errors: number;
  /** Seconds into the slow run when the ring was full, if it filled. */
  ringFullAfterS: number | null;
  acknowledged: number;
  delivered: number;
}

/**
 * `single` at half its peak rate, first with a healthy Kinesis, then with a proxy adding 2 s to every
 * Kinesis call: the clients must not notice until the ring fills.
 */
async function runIsolation(rate: number, repetition: number): Promise<IsolationRun> {
  const stream = `bench-isolation-${repetition}`;
  const kinesis = await startLocalKinesis(stream, 16);
  const proxy = await startChild('slow-proxy-server.js', [kinesis.endpoint]);
  const target = await startGatewayTarget(stream, `http://127.0.0.1:${proxy.port}`);
  const scenario = SCENARIOS.find((s) => s.name === 'single')!;
  try {
    const healthy = await measure(scenario, { ...target, stream: undefined }, rate);
    process.kill(proxy.pid, 'SIGUSR2'); // from now on every Kinesis call takes 2 s longer
    let ringFullAfterS: number | null = null;
    const started = Date.now();
    const polling = (async () => {
      while (Date.now() - started < DURATION_S * 1000) {
        const text = await (await fetch(target.metricsUrl!)).text();
        const used = Number(/^gateway_ring_used_bytes (\d+)$/m.exec(text)?.[1] ?? 0);
        const capacity = Number(/^gateway_ring_capacity_bytes (\d+)$/m.exec(text)?.[1] ?? 1);
        if (ringFullAfterS === null && used > capacity * 0.95) ringFullAfterS = (Date.now() - started) / 1000;
        await sleep(250);
      }
    })();
    const slow = await load(target, scenario, rate);
    await polling;
    await target.stream!.drained();
    const delivered = new Set((await tapStream(kinesis.endpoint, stream, 3)).map((e) => e.id)).size;
    return {
      rate, healthyP99Ms: healthy.p99Ms, slowKinesisP99Ms: slow.latency.p99, p99Ratio: slow.latency.p99 / Math.max(1, healthy.p99Ms),
      errors: slow.errors + slow.timeouts + slow.non2xx, ringFullAfterS, acknowledged: healthy.acknowledged + slow['2xx'], delivered,
    };
  } finally {
    await target.stop();
    await proxy.stop();
    await kinesis.kill();
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

/** Bars of events/min per scenario on a log scale with the 100,000/min line, and each p99 as a label. */
function chart(rows: { name: string; eventsPerMin: number; p99Ms: number }[]): string {
  const width = 720, height = 60 + rows.length * 44, left = 120, right = 40;
  const max = Math.max(1e6, ...rows.map((r) => r.eventsPerMin)) * 1.5;
  const x = (v: number) => left + (Math.log10(Math.max(v, 1e3)) - 3) / (Math.log10(max) - 3) * (width - left - right);
  const bars = rows.map((r, i) => {
    const y = 40 + i * 44;
    return `<text x="${left - 8}" y="${y + 20}" text-anchor="end">${r.name}</text>`
      + `<rect x="${left}" y="${y + 4}" width="${(x(r.eventsPerMin) - left).toFixed(1)}" height="24" fill="#4c78a8"/>`
      + `<text x="${(x(r.eventsPerMin) + 6).toFixed(1)}" y="${y + 20}">${Math.round(r.eventsPerMin).toLocaleString('en-US')}/min, p99 ${r.p99Ms} ms</text>`;
  }).join('');
  const ref = x(100_000).toFixed(1);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`
    + `<text x="${left}" y="20" font-weight="bold">events per minute accepted (log scale) and p99 latency</text>${bars}`
    + `<line x1="${ref}" y1="30" x2="${ref}" y2="${height - 10}" stroke="#e45756" stroke-dasharray="4"/>`
    + `<text x="${ref}" y="${height - 2}" fill="#e45756" text-anchor="middle">100,000/min</text></svg>\n`;
}

function printIsolation(run: IsolationRun, repetition: number): void {
  process.stderr.write(`isolation #${repetition + 1}: ${run.rate} req/s, p99 healthy ${run.healthyP99Ms} ms, with 2 s Kinesis latency ${run.slowKinesisP99Ms} ms (${run.p99Ratio.toFixed(2)}x), ${run.errors} errors, ring full after ${run.ringFullAfterS ?? 'never'} s, delivered ${run.delivered} of ${run.acknowledged}\n`);
}

/** What limited bare and single, from their CPU figures: the harness shares the machine with the servers. */
function bareBound(med: (name: string, key: keyof Run) => number): string {
  const percent = (name: string, key: keyof Run) => `${Math.round(med(name, key))}%`;
  const bound = med('bare', 'loadGeneratorCpuPercent') >= 95 ? ', so it, not the server, set the limit' : '';
  const generator = `the load generator was at ${percent('bare', 'loadGeneratorCpuPercent')} of a core${bound}`;
  return `What limited them: during bare ${generator} (the machine was ${percent('bare', 'machineCpuPercent')} busy); `
    + `during single the machine was ${percent('single', 'machineCpuPercent')} busy, the gateway's main thread at ${percent('single', 'mainThreadCpuPercent')} `
    + `and the load generator at ${percent('single', 'loadGeneratorCpuPercent')}: the gateway, its shipping threads, the local Kinesis and the load generator share ${os.cpus().length} cores.`;
}

async function main(): Promise<void> {
  // --isolation-only <req/s>: just the isolation runs at that rate, no report (to compare shipper changes).
  const isolationOnly = process.argv.indexOf('--isolation-only');
  if (isolationOnly >= 0) {
    for (let r = 0; r < REPETITIONS; r++) printIsolation(await runIsolation(Number(process.argv[isolationOnly + 1]), r), r);
    return;
  }
  // --only <scenario,…> [--rate <req/s>]: just those scenarios, no report, to compare request-path
  // changes. At a fixed rate below the peak, CPU µs per event varies far less than the peak does.
  const onlyAt = process.argv.indexOf('--only');
  const only = onlyAt >= 0 ? process.argv[onlyAt + 1].split(',') : undefined;
  const rateAt = process.argv.indexOf('--rate');
  const rate = only && rateAt >= 0 ? Number(process.argv[rateAt + 1]) : undefined;
  const aggregation: AggregationRun[] = [];
  for (const mode of only ? [] : (['random', 'field'] as const)) {
    for (let r = 0; r < REPETITIONS; r++) {
      const run = runAggregation(quick ? 100_000 : 1_000_000, mode);
      aggregation.push(run);
      process.stderr.write(`aggregation ${mode} #${r + 1}: ours ${Math.round(run.oursEventsPerS)} events/s, aws-kinesis-agg ${Math.round(run.theirsEventsPerS)} events/s, ${run.ratio.toFixed(2)}x, ${run.eventsPerRecord.toFixed(1)} events per record\n`);
    }
  }
  const results: Record<string, Run[]> = {};
  for (const scenario of SCENARIOS.filter((s) => !only || only.includes(s.name))) {
    results[scenario.name] = [];
    for (let r = 0; r < REPETITIONS; r++) {
      const run = await runOnce(scenario, r, rate);
      results[scenario.name].push(run);
      process.stderr.write(`${scenario.name} #${r + 1}: ${Math.round(run.requestsPerS)} req/s, ${Math.round(run.eventsPerS)} events/s, p99 ${run.p99Ms} ms, ${run.cpuUsPerEvent.toFixed(1)} µs CPU/event, main thread ${Math.round(run.mainThreadCpuPercent)}%, load generator ${Math.round(run.loadGeneratorCpuPercent)}%, machine ${Math.round(run.machineCpuPercent)}%, delivered ${run.delivered ?? '-'} of ${run.acknowledged}\n`);
    }
  }
  if (only) return;
  const med = (name: string, key: keyof Run) => median(results[name].map((r) => Number(r[key] ?? 0)));
  const isolation: IsolationRun[] = [];
  for (let r = 0; r < REPETITIONS; r++) {
    const run = await runIsolation(Math.round(med('single', 'requestsPerS') / 2), r);
    isolation.push(run);
    printIsolation(run, r);
  }
  const aggregationOf = (mode: string) => aggregation.filter((a) => a.mode === mode);
  const aggregationRatio = median(aggregationOf('random').map((a) => a.ratio));
  const ratios = {
    singleOverBare: med('single', 'requestsPerS') / med('bare', 'requestsPerS'),
    singleOverSeedDesign: med('single', 'requestsPerS') / med('seed-design', 'requestsPerS'),
    singleDiskOverSingle: med('single-disk', 'requestsPerS') / med('single', 'requestsPerS'),
    isolationP99SlowOverHealthy: median(isolation.map((i) => i.p99Ratio)),
    aggregationOverAwsKinesisAgg: aggregationRatio,
  };
  // autocannon stops counting with requests still in flight; the gateway answers and ships those
  // too, so the stream may hold a few more than were counted, never fewer.
  const deliveredAll = (r: Run) => r.delivered === undefined || r.delivered >= r.acknowledged;
  const allDelivered = Object.values(results).flat().every(deliveredAll) && isolation.every((i) => i.delivered >= i.acknowledged);
  const machine = `${os.cpus().length} × ${os.cpus()[0].model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const report = { date: new Date().toISOString(), machine, quick, durationS: DURATION_S, repetitions: REPETITIONS, connections: CONNECTIONS, pipelining: PIPELINING, ratios, allDelivered, aggregation, isolation, scenarios: results };
  writeFileSync(path.join(__dirname, '..', '..', 'bench', 'results', `${stamp}.json`), JSON.stringify(report, null, 2));

  const rows = SCENARIOS.map(({ name }) => {
    const runs = results[name];
    const uncounted = runs.map((r) => (r.delivered ?? 0) - r.acknowledged).join(', ');
    const delivered = runs[0].delivered === undefined ? 'n/a' : runs.every(deliveredAll) ? `all (+${uncounted} answered after the count stopped)` : 'MISSING';
    const perMin = runs[0].deliveredEventsPerMin === undefined ? 'n/a' : Math.round(med(name, 'deliveredEventsPerMin')).toLocaleString('en-US');
    return `| ${name} | ${Math.round(med(name, 'requestsPerS')).toLocaleString('en-US')} ${spread(runs.map((r) => r.requestsPerS))} | ${Math.round(med(name, 'eventsPerS') * 60).toLocaleString('en-US')} | ${perMin} | ${med(name, 'p50Ms')} / ${med(name, 'p99Ms')} | ${med(name, 'errors') + med(name, 'non2xx')} | ${med(name, 'cpuUsPerEvent').toFixed(1)} | ${Math.round(med(name, 'mainThreadCpuPercent'))}% | ${Math.round(med(name, 'loadGeneratorCpuPercent'))}% | ${Math.round(med(name, 'machineCpuPercent'))}% | ${delivered} |`;
  });
  const markdown = [
    `# Benchmark ${report.date}${quick ? ' (quick)' : ''}`,
    '',
    `Machine: ${machine}. autocannon in the harness process, ${CONNECTIONS} connections × pipelining ${PIPELINING}, ${DURATION_S} s per run, median of ${REPETITIONS} (± worst deviation).`,
    '',
    '| scenario | requests/s | events/min accepted | events/min delivered | p50 / p99 ms | errors and non-2xx | gateway CPU µs/event | server main thread CPU | load generator CPU | machine CPU (all cores) | acknowledged events on the stream |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    `single ÷ bare: ${ratios.singleOverBare.toFixed(2)} (target ≥ 0.80). single ÷ seed-design: ${ratios.singleOverSeedDesign.toFixed(1)} (target ≥ 20). Reference: 100,000 events/min.`,
    '',
    bareBound(med),
    '',
    `Isolation: single at ${isolation[0].rate.toLocaleString('en-US')} req/s (half its peak), healthy, then with 2 s added to every Kinesis call: p99 ${median(isolation.map((i) => i.healthyP99Ms))} ms → ${median(isolation.map((i) => i.slowKinesisP99Ms))} ms (${ratios.isolationP99SlowOverHealthy.toFixed(2)}×, target ≤ 1.25×), ${median(isolation.map((i) => i.errors))} errors; the ring filled ${isolation.map((i) => (i.ringFullAfterS === null ? 'never' : `after ${i.ringFullAfterS.toFixed(1)} s`)).join(', ')}; every acknowledged event delivered: ${isolation.every((i) => i.delivered >= i.acknowledged) ? 'yes' : 'NO'}.`,
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
  writeFileSync(path.join(__dirname, '..', '..', 'bench', 'results', 'latest.svg'), chart(SCENARIOS.map(({ name }) => ({ name, eventsPerMin: med(name, 'eventsPerS') * 60, p99Ms: med(name, 'p99Ms') }))));
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
