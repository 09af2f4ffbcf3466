// One measured run: the load generator in a process of its own against a target, the CPU of every
// part over the same window, and the delivery check (every acknowledged event read back with tap).
// Also the isolation run, which loads the gateway twice with Kinesis made slow in between.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLocalKinesis, tapStream } from '../test/support/processes';
import { startCpuMeter } from './cpu';
import type { LoadOptions, LoadResult } from './load-generator';
import { CONNECTIONS, LOAD_BALANCER_HEADERS, scenario as scenarioNamed, startChild, startGatewayTarget, type Scenario, type Target } from './scenarios';

export interface Run {
  /** The fixed rate offered, req/s; none for a peak run. */
  rate?: number;
  requestsPerS: number;
  eventsPerS: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
  /** The non-2xx answers by status. */
  non2xxByStatus: Record<string, number>;
  /** Events in 2xx answers. */
  acknowledged: number;
  /** Events in 2xx answers to the warm-up before the window: on the stream too. */
  warmUpAcknowledged: number;
  /** Seconds of load, as the harness saw them (the CPU window). */
  windowS: number;
  /** Percent of one core over the window. */
  mainThreadCpuPercent: number;
  otherThreadsCpuPercent: number;
  localKinesisCpuPercent: number;
  loadGeneratorCpuPercent: number;
  /** All cores, every process: at 100% the machine itself is the limit. */
  machineCpuPercent: number;
  /** CPU µs of the server's main thread per answered request. */
  mainThreadUsPerRequest: number;
  /** CPU µs per acknowledged event of the server process's other threads (the gateway's shipping side). */
  otherThreadsUsPerEvent: number;
  /** CPU µs of the local Kinesis per acknowledged event. */
  localKinesisUsPerEvent: number;
  loadGeneratorUsPerRequest: number;
  /** The whole server process (all threads) per acknowledged event. */
  serverUsPerEvent: number;
  delivered?: number;
  deliveredEventsPerMin?: number;
  /** What the server said about itself (the bare endpoint: its uWS build). */
  server?: Record<string, unknown>;
}

/** Events of a run the stream must hold: those of the warm-up and of the window. */
export function acknowledgedInAll(run: Run): number {
  return run.warmUpAcknowledged + run.acknowledged;
}

function loadOptions(target: Target, scenario: Scenario, durationS: number, rate?: number): LoadOptions {
  return {
    url: target.url + scenario.path,
    method: scenario.method,
    body: scenario.body,
    headers: { ...LOAD_BALANCER_HEADERS, ...(scenario.contentType ? { 'content-type': scenario.contentType } : {}) },
    connections: CONNECTIONS,
    pipelining: rate ? 1 : scenario.pipelining,
    durationS,
    overallRate: rate,
  };
}

/** Runs the load generator; onStarted fires when it begins loading. */
function load(options: LoadOptions, onStarted: () => void = () => {}): Promise<{ result: LoadResult; pid: number }> {
  const child = spawn(process.execPath, [path.join(__dirname, 'load-generator.js'), JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let result: LoadResult | undefined;
    createInterface({ input: child.stdout }).on('line', (line) => {
      const message = JSON.parse(line);
      if (message.started) onStarted();
      else result = message;
    });
    child.once('exit', (code) => (result && code === 0 ? resolve({ result, pid: child.pid! }) : reject(new Error(`the load generator exited with ${code}`))));
  });
}

/**
 * One run: `warmUpS` seconds of load at the run's rate first, outside the window, as a fresh server
 * compiles the code it runs in its first second (see WARM_UP_S in run.ts).
 */
export async function measure(scenario: Scenario, target: Target, durationS: number, rate: number | undefined, warmUpS: number): Promise<Run> {
  const loadStarted = Date.now();
  const { result: warmUp } = await load(loadOptions(target, scenario, warmUpS, rate));
  let meter: ReturnType<typeof startCpuMeter> | undefined;
  let started = 0;
  const { result } = await load(loadOptions(target, scenario, durationS, rate), () => {
    meter = startCpuMeter(target.pid, target.localKinesisPids());
    started = Date.now();
  });
  const cpu = meter!.stop();
  const windowS = (Date.now() - started) / 1000;
  const requests = Math.max(1, result.ok2xx + result.non2xx);
  const acknowledged = result.ok2xx * scenario.eventsPerRequest;
  const perEvent = (seconds: number) => (seconds * 1e6) / Math.max(1, acknowledged);
  const percent = (seconds: number) => (seconds / windowS) * 100;
  const run: Run = {
    rate,
    requestsPerS: result.requestsPerS,
    eventsPerS: result.requestsPerS * scenario.eventsPerRequest,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    errors: result.errors,
    non2xx: result.non2xx,
    non2xxByStatus: result.non2xxByStatus,
    acknowledged,
    warmUpAcknowledged: warmUp.ok2xx * scenario.eventsPerRequest,
    windowS,
    mainThreadCpuPercent: percent(cpu.mainThreadS),
    otherThreadsCpuPercent: percent(cpu.otherThreadsS),
    localKinesisCpuPercent: percent(cpu.localKinesisS),
    loadGeneratorCpuPercent: percent(result.cpuS),
    machineCpuPercent: (cpu.machineBusyS / cpu.machineTotalS) * 100,
    mainThreadUsPerRequest: (cpu.mainThreadS * 1e6) / requests,
    otherThreadsUsPerEvent: perEvent(cpu.otherThreadsS),
    localKinesisUsPerEvent: perEvent(cpu.localKinesisS),
    loadGeneratorUsPerRequest: (result.cpuS * 1e6) / requests,
    serverUsPerEvent: perEvent(cpu.mainThreadS + cpu.otherThreadsS),
  };
  if (target.stream) {
    // Delivery is part of every run: the acknowledged count must come back from the stream.
    const drained = await target.stream.drained();
    const shippedAt = Date.now();
    const envelopes = await tapStream(target.stream.endpoint, target.stream.name, 3);
    run.delivered = new Set(envelopes.map((e) => e.id)).size;
    run.deliveredEventsPerMin = drained ? (run.delivered / ((shippedAt - loadStarted) / 1000)) * 60 : 0;
  }
  return run;
}

export async function runOnce(scenario: Scenario, repetition: number, durationS: number, warmUpS: number, rate?: number): Promise<Run> {
  const target = await scenario.start(`bench-${scenario.name}-${rate ?? 'peak'}-${repetition}`);
  try {
    return { ...(await measure(scenario, target, durationS, rate, warmUpS)), server: target.about };
  } finally {
    await target.stop();
  }
}

export interface IsolationRun {
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
export async function runIsolation(rate: number, repetition: number, durationS: number, warmUpS: number): Promise<IsolationRun> {
  const stream = `bench-isolation-${repetition}`;
  const kinesis = await startLocalKinesis(stream, 16);
  const proxy = await startChild('slow-proxy-server.js', [kinesis.endpoint]);
  const target = await startGatewayTarget(stream, `http://127.0.0.1:${proxy.port}`);
  const single = scenarioNamed('single');
  try {
    const healthy = await measure(single, { ...target, stream: undefined }, durationS, rate, warmUpS);
    process.kill(proxy.pid, 'SIGUSR2'); // from now on every Kinesis call takes 2 s longer
    let ringFullAfterS: number | null = null;
    const started = Date.now();
    const polling = (async () => {
      while (Date.now() - started < durationS * 1000) {
        const text = await (await fetch(target.metricsUrl!)).text();
        const used = Number(/^gateway_ring_used_bytes (\d+)$/m.exec(text)?.[1] ?? 0);
        const capacity = Number(/^gateway_ring_capacity_bytes (\d+)$/m.exec(text)?.[1] ?? 1);
        if (ringFullAfterS === null && used > capacity * 0.95) ringFullAfterS = (Date.now() - started) / 1000;
        await sleep(250);
      }
    })();
    const { result: slow } = await load(loadOptions(target, single, durationS, rate));
    await polling;
    await target.stream!.drained();
    const delivered = new Set((await tapStream(kinesis.endpoint, stream, 3)).map((e) => e.id)).size;
    return {
      rate,
      healthyP99Ms: healthy.p99Ms,
      slowKinesisP99Ms: slow.p99Ms,
      p99Ratio: slow.p99Ms / Math.max(1, healthy.p99Ms),
      errors: slow.errors + slow.non2xx,
      ringFullAfterS,
      acknowledged: acknowledgedInAll(healthy) + slow.ok2xx,
      delivered,
    };
  } finally {
    await target.stop();
    await proxy.stop();
    await kinesis.kill();
  }
}
