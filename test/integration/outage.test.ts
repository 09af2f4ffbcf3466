// Issue 14: Kinesis unreachable for OUTAGE_MS under steady load. Five gateways run through the same
// window, each with its own local Kinesis:
//   - with --durability disk and the default record TTL (none with a spool), behind an outage proxy
//     that blackholes (connections accepted, nothing answered), refuses connections, resets them,
//     or answers every call 500/503: zero dead letters, /readyz 200 throughout (the spool has room),
//     more on disk than the ring holds, and every acknowledged event on the stream after recovery,
//     oldest first out of the spool; the shutdown summary counts what was spilled;
//   - in memory mode without a spool, the local Kinesis frozen (SIGSTOP): events past the 30 s TTL go
//     to the dead-letter file, the thawed emulator survives the sockets the gateway gave up on, and
//     `replay` puts every dead letter on the stream; a replay killed halfway and run again adds no
//     event twice beyond what its summary reports.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { metricsText, metricValue, rssBytes, steadyLoad, waitUntilShipped, type SteadyLoad } from '../support/load';
import { post, runCli, startGateway, startLocalKinesis, tapStream, type Gateway, type LocalKinesisProcess } from '../support/processes';
import { createStream } from '../support/read-stream';
import { until } from '../support/wait';
import { tempDir } from '../support/temp-dir';

/** How long Kinesis is unreachable. The issue asks for 60 s: longer than the 30 s TTL of memory mode. */
const OUTAGE_MS = 60_000;
/** Steady load per gateway: about 400 events/s (requests of 10 events, 2 senders pausing 50 ms). */
const LOAD = { perRequest: 10, concurrency: 2, pauseMs: 50, pad: 60 };
/** The ring of the gateways with a spool: small, so that the outage's events go to disk. */
const RING_BYTES = 1024 * 1024;
const MiB = 1024 * 1024;

type Mode = 'pass' | 'blackhole' | 'refuse' | 'reset' | 'error5xx';

/** A TCP proxy in front of a local Kinesis that can stop passing calls in four ways. */
class OutageProxy {
  mode: Mode = 'pass';
  private readonly sockets = new Set<net.Socket>();
  private readonly server: net.Server;
  private readonly failing = http.createServer((req, res) => {
    req.resume();
    const status = Math.random() < 0.5 ? 500 : 503;
    const body = JSON.stringify({ __type: status === 503 ? 'ServiceUnavailable' : 'InternalFailure', message: 'injected outage' });
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  port = 0;

  constructor(private readonly target: URL) {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(port = 0): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** Starts the outage: connections open now are cut, so that keep-alive ones do not slip through. */
  async fail(mode: Exclude<Mode, 'pass'>): Promise<void> {
    this.mode = mode;
    this.cutAll();
    if (mode === 'refuse') await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async recover(): Promise<void> {
    const refused = this.mode === 'refuse';
    this.mode = 'pass';
    this.cutAll();
    if (refused) await this.listen(this.port);
  }

  async close(): Promise<void> {
    this.cutAll();
    if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private cutAll(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    if (this.mode === 'blackhole') {
      socket.resume(); // read and never answer
      return;
    }
    if (this.mode === 'reset') {
      socket.once('data', () => socket.resetAndDestroy()); // take the request, answer with a TCP reset
      return;
    }
    if (this.mode === 'error5xx') {
      this.failing.emit('connection', socket);
      return;
    }
    const upstream = net.connect(Number(this.target.port), this.target.hostname);
    this.sockets.add(upstream);
    upstream.on('close', () => {
      this.sockets.delete(upstream);
      socket.destroy();
    });
    upstream.on('error', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
    socket.pipe(upstream).pipe(socket);
  }
}

interface Scenario {
  readonly name: string;
  readonly kinesis: LocalKinesisProcess;
  readonly gateway: Gateway;
  readonly proxy?: OutageProxy;
  readonly deadLetterFile: string;
  readonly load: SteadyLoad;
  /** Lag metric just before recovery, in seconds. */
  lagAtEnd: number;
  /** Spool bytes just before recovery. */
  spoolAtEnd: number;
  /** /readyz answered 200 at every sample during the outage. */
  readyThroughout: boolean;
  rssBefore: number;
  rssPeak: number;
  acknowledgedDuringOutage: number;
  /** Set when the outage ends, before Kinesis is reachable again. */
  outageOver: boolean;
  ackStreamAnswer?: { status: number; error?: unknown; duringOutage: boolean };
}

const scenarios = new Map<string, Scenario>();

async function startScenario(name: string, durability: 'disk' | 'memory', mode?: Exclude<Mode, 'pass'>): Promise<Scenario> {
  const stream = `outage-${name}`;
  const kinesis = await startLocalKinesis(stream, 2);
  let proxy: OutageProxy | undefined;
  if (mode) {
    proxy = new OutageProxy(new URL(kinesis.endpoint));
    await proxy.listen();
  }
  const dir = tempDir(`outage-${name}-`);
  const deadLetterFile = path.join(dir, 'dead-letter.ndjson');
  const args = [
    '--kinesis-endpoint',
    proxy?.endpoint ?? kinesis.endpoint,
    '--stream',
    stream,
    '--dead-letter-file',
    deadLetterFile,
    '--kinesis-request-timeout-ms',
    '2000',
    '--kinesis-connect-timeout-ms',
    '1000',
    '--ack-timeout-ms',
    '2000',
    ...(durability === 'disk' ? ['--durability', 'disk', '--spool-dir', path.join(dir, 'spool'), '--ring-bytes', String(RING_BYTES)] : []),
  ];
  const gateway = await startGateway(args);
  const load = steadyLoad(gateway.url('/v1/events'), LOAD);
  return {
    name,
    kinesis,
    gateway,
    proxy,
    deadLetterFile,
    load,
    lagAtEnd: 0,
    spoolAtEnd: 0,
    readyThroughout: true,
    rssBefore: 0,
    rssPeak: 0,
    acknowledgedDuringOutage: 0,
    outageOver: false,
  };
}

async function ackStreamDuringOutage(scenario: Scenario): Promise<void> {
  const answer = await post(scenario.gateway.url('/v1/events?ack=stream'), JSON.stringify({ seq: -1 }));
  scenario.ackStreamAnswer = { status: answer.status, error: answer.body.error, duringOutage: !scenario.outageOver };
}

/** Once a second during the outage: readiness, and memory (reported, not asserted: a figure for the benchmark). */
async function sampleDuringOutage(scenario: Scenario): Promise<void> {
  scenario.rssPeak = Math.max(scenario.rssPeak, rssBytes(scenario.gateway.child.pid!));
  if ((await fetch(scenario.gateway.adminUrl('/readyz'))).status !== 200) scenario.readyThroughout = false;
}

async function startOutage(scenario: Scenario, mode: Exclude<Mode, 'pass'> | 'freeze'): Promise<void> {
  scenario.rssBefore = scenario.rssPeak = rssBytes(scenario.gateway.child.pid!);
  if (mode === 'freeze') process.kill(scenario.kinesis.child.pid!, 'SIGSTOP');
  else await scenario.proxy!.fail(mode);
}

async function endOutage(scenario: Scenario, mode: Exclude<Mode, 'pass'> | 'freeze'): Promise<void> {
  const metrics = await metricsText(scenario.gateway);
  scenario.lagAtEnd = metricValue(metrics, 'gateway_oldest_unconfirmed_age_seconds');
  scenario.spoolAtEnd = metricValue(metrics, 'gateway_spool_bytes');
  scenario.outageOver = true;
  if (mode === 'freeze') process.kill(scenario.kinesis.child.pid!, 'SIGCONT');
  else await scenario.proxy!.recover();
}

/** Every acknowledged seq on the stream, and how many arrived more than once. */
async function readBack(
  scenario: Scenario,
  stream = `outage-${scenario.name}`,
): Promise<{ missing: number[]; duplicates: number; onStream: Map<number, number> }> {
  const onStream = new Map<number, number>();
  for (const envelope of await tapStream(scenario.kinesis.endpoint, stream)) {
    const seq = envelope.event.seq as number;
    onStream.set(seq, (onStream.get(seq) ?? 0) + 1);
  }
  const missing = [...scenario.load.acknowledged.keys()].filter((seq) => !onStream.has(seq));
  const duplicates = [...onStream.values()].reduce((n, count) => n + count - 1, 0);
  return { missing, duplicates, onStream };
}

const MODES = [
  ['blackhole', 'blackhole'],
  ['refused', 'refuse'],
  ['reset', 'reset'],
  ['5xx', 'error5xx'],
] as const;

describe(`Kinesis unreachable for ${OUTAGE_MS / 1000} s under steady load`, () => {
  before(async () => {
    for (const [name, mode] of MODES) scenarios.set(name, await startScenario(name, 'disk', mode));
    scenarios.set('freeze', await startScenario('freeze', 'memory'));
    await sleep(2000); // steady state first
    const atStart = new Map([...scenarios].map(([name, s]) => [name, s.load.acknowledged.size]));
    for (const [name, mode] of MODES) await startOutage(scenarios.get(name)!, mode);
    await startOutage(scenarios.get('freeze')!, 'freeze');
    const outageEnds = Date.now() + OUTAGE_MS;
    const halfway = Date.now() + OUTAGE_MS / 2;
    let ackStreams: Promise<unknown> | undefined;
    const withSpool = MODES.map(([name]) => scenarios.get(name)!);
    while (Date.now() < outageEnds) {
      await sleep(Math.min(1000, Math.max(0, outageEnds - Date.now())));
      if (!ackStreams && Date.now() >= halfway) {
        // Not awaited until the outage is over: an answer held until Kinesis is back must show as such.
        ackStreams = Promise.all([...scenarios.values()].map(ackStreamDuringOutage));
        ackStreams.catch(() => {}); // awaited below; this only keeps an early failure from counting as unhandled
      }
      await Promise.all(withSpool.map(sampleDuringOutage));
    }
    for (const [name, s] of scenarios) s.acknowledgedDuringOutage = s.load.acknowledged.size - atStart.get(name)!;
    for (const [name, mode] of MODES) await endOutage(scenarios.get(name)!, mode);
    await endOutage(scenarios.get('freeze')!, 'freeze');
    await ackStreams;
    await sleep(2000); // recovery, still under load
    await Promise.all([...scenarios.values()].map((s) => s.load.stop()));
    await Promise.all([...scenarios.values()].map((s) => waitUntilShipped(s.gateway, 180_000)));
  });

  after(async () => {
    for (const s of scenarios.values()) {
      await s.load.stop();
      await s.gateway.kill('SIGKILL');
      await s.proxy?.close();
      await s.kinesis.kill();
    }
  });

  for (const [name] of MODES) {
    it(`--durability disk, ${name}: zero dead letters, every acknowledged event on the stream after recovery`, async (t: TestContext) => {
      const s = scenarios.get(name)!;
      const metrics = await metricsText(s.gateway);
      const { missing, duplicates } = await readBack(s);
      const deadLettered =
        metricValue(metrics, 'gateway_dead_letter_events_total{reason="expired"}') + metricValue(metrics, 'gateway_dead_letter_events_total{reason="refused"}');
      const spilled = metricValue(metrics, 'gateway_spool_spilled_events_total');
      t.diagnostic(
        `${name}: ${s.load.acknowledged.size} events acknowledged (${s.acknowledgedDuringOutage} during the outage), ` +
          `${spilled} spilled to the spool, ${deadLettered} dead letters, ${duplicates} duplicates on the stream, ` +
          `lag at the end of the outage ${s.lagAtEnd.toFixed(1)} s, spool ${(s.spoolAtEnd / MiB).toFixed(1)} MiB; RSS ${(s.rssBefore / MiB).toFixed(1)} → peak ${(s.rssPeak / MiB).toFixed(1)} MiB; ` +
          `?ack=stream during it: ${JSON.stringify(s.ackStreamAnswer)}; statuses ${JSON.stringify([...s.load.statuses])}`,
      );
      assert.equal(deadLettered, 0, 'nothing was dead-lettered');
      assert.equal(existsSync(s.deadLetterFile), false, 'no dead-letter file was written');
      assert.deepEqual(missing, [], `all ${s.load.acknowledged.size} acknowledged events are on the stream`);
      assert.ok(s.acknowledgedDuringOutage > 0, 'the gateway kept acknowledging through the outage');
      assert.deepEqual([...s.load.statuses.keys()], [202], 'every request was acknowledged');
      assert.ok(s.readyThroughout, '/readyz stayed 200 through the outage: the spool had room');
      // RSS is reported above, not asserted: it depends on the machine and on coverage
      // instrumentation. Memory is bounded by construction: the ring's size, whatever the spool holds.
      assert.ok(s.spoolAtEnd > RING_BYTES, `the events went to disk: more than the ring holds (${s.spoolAtEnd} bytes)`);
      assert.ok(spilled > 0, 'events waited in the spool behind the ring');
      assert.ok(s.lagAtEnd >= OUTAGE_MS / 2000, `gateway_oldest_unconfirmed_age_seconds showed the outage (${s.lagAtEnd} s)`);
      assert.equal(metricValue(metrics, 'gateway_oldest_unconfirmed_age_seconds'), 0, 'and is 0 once everything is confirmed');
      assert.equal(s.ackStreamAnswer?.status, 503, '?ack=stream is answered 503 during the outage');
      assert.equal(s.ackStreamAnswer.duringOutage, true, 'answered while the outage lasts, not held until Kinesis is back');

      s.gateway.child.kill('SIGINT');
      assert.equal((await s.gateway.exited).code, 0);
      const confirmedLine = s.gateway.logs.find((l) => /every buffered event was confirmed by Kinesis/.test(l.msg));
      assert.ok(confirmedLine, 'the shutdown log says every buffered event was confirmed, and it was');
      const summary = s.gateway.logs.find((l) => l.msg === 'shutdown complete')!;
      assert.equal(summary.eventsDeadLettered, 0);
      assert.equal(summary.eventsLeftInSpool, 0);
      assert.equal(summary.eventsSpilledToSpool, spilled, 'the shutdown summary counts what was spooled');
      assert.equal(summary.spoolBytesLeft, 0);
    });
  }

  it('memory mode without a spool, Kinesis frozen: events past the TTL are dead-lettered, and replay puts every one on the stream, once per run', async (t: TestContext) => {
    const s = scenarios.get('freeze')!;
    assert.equal(s.kinesis.child.exitCode, null, 'the thawed local Kinesis survived the sockets the gateway gave up on');
    const metrics = await metricsText(s.gateway);
    const expired = metricValue(metrics, 'gateway_dead_letter_events_total{reason="expired"}');
    const deadLetters = readFileSync(s.deadLetterFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { id: string; event: { seq: number } });
    assert.ok(expired > 0, 'events waited past the 30 s TTL');
    assert.equal(deadLetters.length, expired, 'each is in the dead-letter file');
    const before = await readBack(s);
    const deadSeqs = new Set(deadLetters.map((e) => e.event.seq));
    const accounted = [...s.load.acknowledged.keys()].filter((seq) => !before.onStream.has(seq) && !deadSeqs.has(seq));
    assert.deepEqual(accounted, [], 'every acknowledged event is on the stream or in the dead-letter file');

    s.gateway.child.kill('SIGINT');
    await s.gateway.exited;
    const settled = s.gateway.logs.find((l) => /every buffered event was settled/.test(l.msg));
    assert.ok(settled && new RegExp(`${expired} written to the dead-letter file`).test(settled.msg), 'the shutdown log names the dead letters');
    assert.ok(!s.gateway.logs.some((l) => /every buffered event was confirmed/.test(l.msg)), 'and does not claim they were all confirmed');

    // The frozen emulator stores the calls queued on its sockets once thawed, including the ones the
    // gateway had timed out and retried: dead letters may be on the stream already, several times.
    // So the replay goes to a stream of its own, where every copy is the replay's doing.
    await createStream(s.kinesis.endpoint, 'outage-freeze-replayed', 2);
    // A slow first replay (5% of each shard's rate, small chunks) killed once it is partly through.
    const replayArgs = ['replay', s.deadLetterFile, '--endpoint', s.kinesis.endpoint, '--stream', 'outage-freeze-replayed'];
    const progressFile = `${s.deadLetterFile}.progress`;
    const first = runCli([...replayArgs, '--rate-limit-percent', '5', '--chunk-events', '200', '--concurrency', '2']);
    await until(
      'the first replay is partly through',
      () => {
        if (!existsSync(progressFile)) return false;
        try {
          return (JSON.parse(readFileSync(progressFile, 'utf8')) as { confirmedEvents: number }).confirmedEvents >= deadLetters.length / 3;
        } catch {
          return false; // being replaced
        }
      },
      120_000,
      50,
    );
    await first.kill('SIGKILL');
    const second = runCli(replayArgs);
    assert.equal((await second.exited).code, 0, second.logs.map((l) => l.msg).join('\n'));
    const summary = second.logs.find((l) => /^replay complete/.test(l.msg))!;
    assert.ok(summary, 'the second run completes with a summary');

    const afterReplay = await readBack(s, 'outage-freeze-replayed');
    const replayed = deadSeqs;
    assert.deepEqual(
      [...replayed].filter((seq) => !afterReplay.onStream.has(seq)),
      [],
      'every dead-lettered event is on the stream',
    );
    // Copies the replays added beyond one per event: only the events the summary says an interrupted run may have sent.
    let addedTwice = 0;
    let alreadyThere = 0;
    for (const seq of replayed) {
      const added = afterReplay.onStream.get(seq)!;
      if (added > 1) addedTwice += added - 1;
      if (before.onStream.has(seq)) alreadyThere++;
    }
    t.diagnostic(
      `freeze: ${s.load.acknowledged.size} events acknowledged (${s.acknowledgedDuringOutage} during the outage), ${expired} dead-lettered (expired); ` +
        `replay: killed after ${summary.skippedAsConfirmed as number} confirmed, the rerun sent ${summary.sent as number}, reported ${summary.possibleDuplicates as number} possible duplicates, ` +
        `${addedTwice} events added twice; ${alreadyThere} dead letters had reached the gateway's stream anyway (timed-out calls the frozen emulator stored once thawed), ` +
        `which holds ${before.duplicates} duplicates`,
    );
    assert.ok((summary.skippedAsConfirmed as number) > 0, 'the rerun skipped what the first run had confirmed');
    assert.ok(addedTwice <= (summary.possibleDuplicates as number), `no event added twice beyond the ${summary.possibleDuplicates} the summary reports`);
    assert.equal(summary.eventsInFile, deadLetters.length);

    const third = runCli(replayArgs);
    assert.equal((await third.exited).code, 0);
    assert.ok(
      third.logs.some((l) => /was replayed whole already/.test(l.msg)),
      'a finished replay sends nothing again',
    );
  });
});
