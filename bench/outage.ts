// npm run bench -- --outage [--outage-s 300] [--rate 5000] [--shards 4]: issue 14's outage benchmark.
// The gateway with --durability disk against a standalone local Kinesis, taking a steady rate of
// single events; the local Kinesis is frozen (SIGSTOP) for the outage and thawed (SIGCONT). Reports
// the gateway's peak RSS (goal: at most 256 MiB), the spool's peak, the time from the thaw until
// the oldest unconfirmed event is younger than 2 s again (the backlog drained), dead letters, failed
// shipper tasks and restarted workers (an out-of-memory worker shows there), and
// whether every acknowledged event was read back from the stream (and how many twice), and the rate
// achieved (events acknowledged per second of load) next to the rate offered: the load generator
// shares the machine and skips requests past its in-flight cap. Not part of npm test; it takes the
// outage plus a few minutes. Writes bench/results/outage-<time>.json.

import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { metricsText, metricValue, rssBytes, waitUntilShipped } from '../test/support/load';
import { CLI, startGateway, startLocalKinesis } from '../test/support/processes';
import { tempDir } from '../test/support/temp-dir';

const MiB = 1024 * 1024;

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
}

/**
 * Reads the whole stream with `tap` line by line, calling `onSeq` with each event's seq: the output
 * of a 5-minute outage run (about 2 million events) is longer than one string may be.
 */
async function readStream(endpoint: string, stream: string, onSeq: (seq: number) => void): Promise<void> {
  const child = spawn(process.execPath, [CLI, 'tap', '--endpoint', endpoint, '--stream', stream, '--idle-exit', '5'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const errors: Buffer[] = [];
  child.stderr.on('data', (chunk: Buffer) => errors.push(chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  for await (const line of readline.createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY })) {
    if (line) onSeq((JSON.parse(line) as { event: { seq: number } }).event.seq);
  }
  const code = await exited;
  if (code !== 0) throw new Error(`tap exited with ${code}: ${Buffer.concat(errors).toString()}`);
}

/** Sends `rate` single-event requests per second (timer-driven, not closed-loop) until stopped. */
function openLoad(port: number, rate: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const acknowledged = new Uint8Array(rate * 3600);
  const statuses = new Map<string, number>();
  let next = 0;
  let inFlight = 0;
  let skipped = 0;
  const count = (key: string) => statuses.set(key, (statuses.get(key) ?? 0) + 1);
  const sendOne = () => {
    if (inFlight >= 256) {
      skipped++;
      return;
    }
    const seq = next++;
    const body = JSON.stringify({ seq, type: 'page_view', url: '/products/42', padding: 'x'.repeat(60) });
    inFlight++;
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/events',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          inFlight--;
          count(String(res.statusCode));
          if (res.statusCode === 202 && seq < acknowledged.length) acknowledged[seq] = 1;
        });
      },
    );
    req.on('error', () => {
      inFlight--;
      count('error');
    });
    req.end(body);
  };
  const TICK_MS = 10;
  const startedAt = Date.now();
  let stoppedAt: number | undefined;
  let carry = 0;
  const timer = setInterval(() => {
    carry += (rate * TICK_MS) / 1000;
    for (; carry >= 1; carry--) sendOne();
  }, TICK_MS);
  return {
    acknowledged,
    statuses,
    get sent() {
      return next;
    },
    get skipped() {
      return skipped;
    },
    /** Seconds from the first request until the load was stopped (or until now). */
    get seconds() {
      return ((stoppedAt ?? Date.now()) - startedAt) / 1000;
    },
    async stop() {
      clearInterval(timer);
      stoppedAt ??= Date.now();
      while (inFlight > 0) await sleep(50);
      agent.destroy();
    },
  };
}

export async function runOutageBenchmark(): Promise<void> {
  const outageS = option('--outage-s', 300);
  const rate = option('--rate', 5000);
  const shards = option('--shards', 4);
  const stream = 'outage-bench';
  const kinesis = await startLocalKinesis(stream, shards);
  const dir = tempDir('outage-bench-');
  const gateway = await startGateway([
    '--kinesis-endpoint',
    kinesis.endpoint,
    '--stream',
    stream,
    '--durability',
    'disk',
    '--spool-dir',
    path.join(dir, 'spool'),
    '--dead-letter-file',
    path.join(dir, 'dead.ndjson'),
  ]);
  const pid = gateway.child.pid!;
  const load = openLoad(gateway.port, rate);
  const samples: { t: number; rssMiB: number; spoolMiB: number; lagS: number }[] = [];
  const started = Date.now();
  const sample = async () => {
    const text = await metricsText(gateway);
    const s = {
      t: (Date.now() - started) / 1000,
      rssMiB: rssBytes(pid) / MiB,
      spoolMiB: metricValue(text, 'gateway_spool_bytes') / MiB,
      lagS: metricValue(text, 'gateway_oldest_unconfirmed_age_seconds'),
    };
    samples.push(s);
    return s;
  };
  const log = (what: string) => process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${what}\n`);
  try {
    for (let i = 0; i < 30; i++) {
      await sleep(1000);
      await sample();
    }
    log(`steady state: ${load.sent} sent; freezing the local Kinesis for ${outageS} s`);
    process.kill(kinesis.child.pid!, 'SIGSTOP');
    const thawAt = Date.now() + outageS * 1000;
    while (Date.now() < thawAt) {
      await sleep(1000);
      const s = await sample();
      if (Math.round(s.t) % 30 === 0) log(`outage: RSS ${s.rssMiB.toFixed(0)} MiB, spool ${s.spoolMiB.toFixed(0)} MiB, lag ${s.lagS.toFixed(0)} s`);
    }
    process.kill(kinesis.child.pid!, 'SIGCONT');
    const thawed = Date.now();
    const outageSamples = samples.slice(30);
    log('thawed');
    let drainedS: number | undefined;
    const drainDeadline = thawed + 30 * 60_000;
    while (drainedS === undefined && Date.now() < drainDeadline) {
      await sleep(1000);
      const s = await sample();
      if (s.lagS <= 2) drainedS = (Date.now() - thawed) / 1000;
      else if (Math.round(s.t) % 15 === 0) log(`draining: RSS ${s.rssMiB.toFixed(0)} MiB, spool ${s.spoolMiB.toFixed(0)} MiB, lag ${s.lagS.toFixed(0)} s`);
    }
    await sleep(5000);
    await load.stop();
    const metrics = await waitUntilShipped(gateway, 30 * 60_000);
    log('every acknowledged event confirmed; reading the stream back');
    const seen = new Uint8Array(load.acknowledged.length);
    let duplicates = 0;
    await readStream(kinesis.endpoint, stream, (seq) => {
      if (seen[seq]) duplicates++;
      seen[seq] = 1;
    });
    let acknowledged = 0;
    let missing = 0;
    for (let seq = 0; seq < load.acknowledged.length; seq++) {
      if (!load.acknowledged[seq]) continue;
      acknowledged++;
      if (!seen[seq]) missing++;
    }
    const result = {
      at: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      outageS,
      rate,
      shards,
      eventsSent: load.sent,
      requestsSkippedByTheLoadGenerator: load.skipped,
      statuses: Object.fromEntries(load.statuses),
      eventsAcknowledged: acknowledged,
      loadS: load.seconds,
      rateOfferedPerS: rate,
      rateAchievedPerS: acknowledged / load.seconds,
      missingFromStream: missing,
      duplicatesOnStream: duplicates,
      deadLettered:
        metricValue(metrics, 'gateway_dead_letter_events_total{reason="expired"}') + metricValue(metrics, 'gateway_dead_letter_events_total{reason="refused"}'),
      // A worker that ran out of memory fails its task and is started again: both must stay 0.
      shipperTasksFailed: metricValue(metrics, 'gateway_worker_task_failures_total'),
      shipperWorkersRestarted: metricValue(metrics, 'gateway_worker_restarts_total'),
      peakRssMiB: Math.max(...samples.map((s) => s.rssMiB)),
      rssBeforeOutageMiB: samples[29]?.rssMiB,
      rssDuringOutageMiB: [Math.min(...outageSamples.map((s) => s.rssMiB)), Math.max(...outageSamples.map((s) => s.rssMiB))],
      spoolPeakMiB: Math.max(...samples.map((s) => s.spoolMiB)),
      peakLagS: Math.max(...samples.map((s) => s.lagS)),
      drainAfterRecoveryS: drainedS,
      samples,
    };
    const out = path.join(__dirname, '..', '..', 'bench', 'results');
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, `outage-${result.at.replace(/[:.]/g, '-')}.json`), JSON.stringify(result, null, 2));
    const { samples: _, ...figures } = result;
    process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
  } finally {
    await load.stop();
    await gateway.kill('SIGKILL');
    process.kill(kinesis.child.pid!, 'SIGCONT');
    await kinesis.kill();
  }
}
