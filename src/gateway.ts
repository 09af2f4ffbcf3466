// `serve`: wires the ring, the shipper pool, the listeners and the shutdown sequence together.

import { setTimeout as sleep } from 'node:timers/promises';
import { effectiveRecordTtlMs, type ServeConfig } from './config';
import { GatewayError, StartupError } from './errors';
import { parsePartitionKeyRule } from './events/partition-key';
import { Admission } from './http/admission';
import { createAdminApp } from './http/admin-app';
import { createPublicApp } from './http/public-app';
import { Readiness } from './http/readiness';
import { RequestMetrics } from './http/request-metrics';
import { UWS_BUILD, uws, uwsFallbackProblem, type TemplatedApp, type us_listen_socket } from './http/uws';
import { createKinesisClient, type KinesisTarget } from './kinesis-client';
import { startLocalKinesis, type LocalKinesis } from './kinesis-local/local-kinesis';
import type { Logger } from './log';
import { METRICS } from './metrics/metric-definitions';
import { createRegistry } from './metrics/registry';
import { Backlog } from './intake/backlog';
import { Intake, intakeCounters } from './intake/intake';
import { StreamAcks } from './intake/stream-acks';
import { Spool, spoolCounters } from './spool/spool';
import { SharedMetrics } from './metrics/shared-metrics';
import { createRingBuffer } from './ring/ring-layout';
import { RingWriter, type BatchLimits } from './ring/ring-writer';
import { MAX_BYTES_PER_REQUEST, MAX_RECORDS_PER_REQUEST } from './shipper/put-records';
import { Shipper } from './shipper/shipper';
import { waitForActiveStream } from './stream-status';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const VERSION: string = require('../../package.json').version;

const SHUTDOWN_POLL_MS = 20;
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

export interface RunningGateway {
  readonly port: number;
  readonly adminPort: number;
  /** Drains (after the drain delay when asked), ships everything buffered, and closes. Resolves true when nothing was left behind. */
  shutdown(withDrainDelay: boolean): Promise<boolean>;
}

function listen(app: TemplatedApp, host: string, port: number, what: string): Promise<us_listen_socket> {
  return new Promise((resolve, reject) => {
    app.listen(host, port, (token) => (token ? resolve(token) : reject(new StartupError('listen_failed', `cannot listen for ${what} on ${host}:${port} (in use or not permitted)`))));
  });
}

/**
 * Unaggregated, a ring batch is one PutRecords call. Aggregated, a batch's events shrink into a few
 * records, so it may hold many more: it is bounded by bytes (room left for the aggregation
 * overhead within one 5 MiB call) and by the linger time.
 */
function batchLimits(config: ServeConfig): BatchLimits {
  if (config.aggregation === 'off') return { maxRecords: MAX_RECORDS_PER_REQUEST, maxBytes: MAX_BYTES_PER_REQUEST, lingerMs: config.lingerMs };
  return { maxRecords: 100_000, maxBytes: Math.floor(MAX_BYTES_PER_REQUEST * 0.8), lingerMs: config.lingerMs };
}

/** The spool of --spool-dir, with the segments an earlier run left; none without the option. */
function openSpool(config: ServeConfig, ring: RingWriter, metrics: SharedMetrics, log: Logger, backlog: Backlog): Spool | undefined {
  if (!config.spoolDir) return undefined;
  return new Spool({
    dir: config.spoolDir, maxBytes: config.spoolMaxBytes, segmentBytes: config.spoolSegmentBytes, commitMs: config.spoolCommitMs, ring, log,
    counters: spoolCounters(metrics), deadLetterFile: config.deadLetterFile,
    onLoaded: (seq, receivedAt) => backlog.written(seq, 1, receivedAt),
  });
}

/** Age of the oldest event accepted and not yet confirmed (in the ring, or waiting in the spool); 0 when there is none. */
function oldestUnconfirmedAgeSeconds(backlog: Backlog, spool: Spool | undefined): number {
  const inRing = backlog.oldestReceivedAt ?? Number.POSITIVE_INFINITY;
  const oldest = Math.min(inRing, spool?.oldestUnloadedAt ?? Number.POSITIVE_INFINITY);
  return Number.isFinite(oldest) ? Math.max(0, Date.now() - oldest) / 1000 : 0;
}

export async function serve(config: ServeConfig, log: Logger): Promise<RunningGateway> {
  if (!UWS_BUILD.native && !config.allowUwsFallback) throw new StartupError('uws_fallback', uwsFallbackProblem());

  // Read the write keys before anything starts, so that a bad file stops nothing half-started.
  let admission: Admission;
  try {
    admission = new Admission({ corsOrigins: config.corsOrigins, writeKeys: config.writeKeys, writeKeysFile: config.writeKeysFile, rateLimitPerIp: config.rateLimitPerIp });
  } catch (err) {
    throw new StartupError('write_keys_unreadable', `cannot read --write-keys-file ${config.writeKeysFile}: ${(err as Error).message}`, { cause: err });
  }

  let localKinesis: LocalKinesis | undefined;
  let kinesis: KinesisTarget = {
    endpoint: config.kinesisEndpoint,
    region: config.region,
    connectTimeoutMs: config.kinesisConnectTimeoutMs,
    requestTimeoutMs: config.kinesisRequestTimeoutMs,
  };
  if (!config.kinesisEndpoint && !config.region) {
    // If the child dies it is started again on the same port, and the stream created again.
    localKinesis = await startLocalKinesis(config.localKinesisPort, {
      log,
      onRestarted: async (endpoint) => {
        const client = createKinesisClient({ ...kinesis, endpoint });
        try {
          await waitForActiveStream({ client, stream: config.stream, where: endpoint, log, createShards: config.localKinesisShards });
        } finally {
          client.destroy();
        }
      },
    });
    kinesis = { ...kinesis, endpoint: localKinesis.endpoint };
  }
  // The first line says what runs: the uWS build (a fallback or a legacy build is visible at once)
  // and, when there is one, the embedded local Kinesis.
  const runtime = `kinesis-gateway ${VERSION} on Node ${process.version} with uWebSockets.js ${UWS_BUILD.version} (${UWS_BUILD.kind} build)`;
  log.info(
    { version: VERSION, node: process.version, uws: UWS_BUILD, kinesisEndpoint: localKinesis?.endpoint, stream: config.stream, shards: localKinesis ? config.localKinesisShards : undefined },
    localKinesis
      ? `${runtime}; no Kinesis endpoint or region configured: started the embedded local Kinesis (kinesalite) at ${localKinesis.endpoint} with stream ${config.stream}`
      : runtime,
  );
  log.info({ config, version: VERSION }, 'effective configuration');
  if (!UWS_BUILD.native) log.warn(uwsFallbackProblem());
  if (NODE_MAJOR < 22) {
    log.warn({ node: process.version }, `Node ${process.version} is past its end of life and the AWS SDK will stop supporting it: run Node 24 (see docs/runtime.md)`);
  }

  // The writer is made below; readiness is only asked once the listeners are up. With a spool, a
  // full ring is no reason to turn traffic away: a filling spool is.
  const readiness = new Readiness(() => (spool
    ? spool.bytes > (config.spoolMaxBytes * config.readyMaxBufferPercent) / 100
    : writer.used > (writer.capacity * config.readyMaxBufferPercent) / 100));
  const metrics = new SharedMetrics();
  const requestMetrics = new RequestMetrics(metrics);
  // Keys taken from a field are there to keep each key's events in order: ship in order then.
  const ordered = config.partitionKey !== 'random';
  const ringBuffer = createRingBuffer(config.ringBytes);
  const limits = batchLimits(config);
  // Batches are published only after start-up, so the writer may refer to the shipper made below.
  const writer = new RingWriter(
    ringBuffer,
    limits,
    (batch) => shipper.ship(batch),
  );
  const shipper = new Shipper({
    workers: config.workers,
    batchesPerWorker: config.batchesPerWorker,
    ordered,
    maxTaskRecords: limits.maxRecords,
    maxTaskBytes: limits.maxBytes,
    log,
    onConfirmed: (batch, deadLettered) => {
      writer.release(batch);
      intake.settled(batch, deadLettered);
    },
    batchesShipped: metrics.counter(METRICS.batchesShipped),
    taskFailures: metrics.counter(METRICS.workerTaskFailures),
    workerRestarts: metrics.counter(METRICS.workerRestarts),
    workerData: {
      ring: ringBuffer, metrics: metrics.buffer, kinesis, stream: config.stream, logLevel: config.logLevel, workers: config.workers,
      aggregationMaxBytes: config.aggregation === 'on' ? config.aggregationMaxBytes : 0,
      rateLimitPercent: config.rateLimitPercent, recordTtlMs: effectiveRecordTtlMs(config), deadLetterFile: config.deadLetterFile, ordered,
    },
  });
  let spool: Spool | undefined;
  const backlog = new Backlog();
  try {
    spool = openSpool(config, writer, metrics, log, backlog);
  } catch (err) {
    await shipper.close();
    localKinesis?.stop();
    throw new StartupError('spool_unusable', `cannot open --spool-dir ${config.spoolDir}: ${(err as Error).message}`, { cause: err });
  }
  const acks = new StreamAcks(config.ackTimeoutMs, metrics.histogram(METRICS.ackWait));
  const intake = new Intake({
    ring: writer, spool, durability: config.durability, acks, backlog, keyRule: parsePartitionKeyRule(config.partitionKey),
    counters: intakeCounters(metrics),
  });
  const registry = createRegistry(metrics, {
    ringUsedBytes: () => writer.used,
    ringCapacityBytes: () => writer.capacity,
    batchesInFlight: () => shipper.batchesInFlight,
    workers: () => shipper.workers,
    spoolBytes: () => spool?.bytes ?? 0,
    spoolSegments: () => spool?.segmentCount ?? 0,
    spoolWritable: () => (spool && !spool.writable ? 0 : 1),
    ackWaiting: () => acks.waiting,
    oldestUnconfirmedAgeSeconds: () => oldestUnconfirmedAgeSeconds(backlog, spool),
    spoolCapacityBytes: () => (spool ? config.spoolMaxBytes : 0),
    ready: () => (readiness.ready ? 1 : 0),
  }, { version: VERSION, uwsVersion: UWS_BUILD.version, uwsBuild: UWS_BUILD.kind });

  const publicApp = createPublicApp({
    maxBodyBytes: config.maxBodyBytes, maxInflatedBytes: config.maxInflatedBytes, maxInflateRatio: config.maxInflateRatio,
    trustProxyHops: config.trustProxyHops, maxEventDepth: config.maxEventDepth,
    maxHeaderBytes: config.maxHeaderBytes, maxUrlBytes: config.maxUrlBytes, bodyTimeoutMs: config.bodyTimeoutMs,
    admission,
    intake, readiness, metrics: requestMetrics, log,
  });
  const adminApp = createAdminApp(registry, readiness, requestMetrics);
  const publicSocket = await listen(publicApp, config.host, config.port, 'events');
  const adminSocket = await listen(adminApp, config.adminHost, config.adminPort, 'admin');
  const port = uws.us_socket_local_port(publicSocket);
  const adminPort = uws.us_socket_local_port(adminSocket);
  log.info({ port, adminPort, nativeUws: UWS_BUILD.native }, `listening on ${config.host}:${port} (events) and ${config.adminHost}:${adminPort} (admin); not ready until the stream is confirmed`);

  const where = kinesis.endpoint ?? `region ${config.region}`;
  const startup = new AbortController();
  const setupClient = createKinesisClient(kinesis);
  try {
    const shards = await waitForActiveStream({
      client: setupClient, stream: config.stream, where, log, signal: startup.signal,
      createShards: localKinesis ? config.localKinesisShards : undefined,
    });
    readiness.phase = 'ready';
    log.info({ stream: config.stream, shards, kinesisEndpoint: where }, `stream ${config.stream} is ACTIVE with ${shards} open shards: ready`);
    spool?.refill();
  } catch (err) {
    uws.us_listen_socket_close(publicSocket);
    uws.us_listen_socket_close(adminSocket);
    await spool?.close();
    await shipper.close();
    localKinesis?.stop();
    throw err instanceof GatewayError ? err : new StartupError('stream_unconfirmed', (err as Error).message, { cause: err });
  } finally {
    setupClient.destroy();
  }

  /** Ships the ring, and what the spool still holds for it, until the deadline; true when all is confirmed. */
  async function shipEverything(deadline: number): Promise<boolean> {
    for (;;) {
      writer.closeBatch();
      if (!(await shipper.idle(Math.max(0, deadline - Date.now())))) return false;
      if (writer.isEmpty && (spool?.caughtUp ?? true)) return true;
      if (Date.now() >= deadline) return false;
      await sleep(SHUTDOWN_POLL_MS); // the spool is loading more into the ring
    }
  }

  async function shutdown(withDrainDelay: boolean): Promise<boolean> {
    const started = Date.now();
    readiness.phase = 'draining';
    const drainDelayMs = withDrainDelay ? config.drainDelayMs : 0;
    log.info({ drainDelayMs }, drainDelayMs > 0
      ? `shutting down: readiness is now 503; still taking events for the ${drainDelayMs} ms drain delay`
      : 'shutting down: readiness is now 503; closing the listener');
    if (drainDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, drainDelayMs));
    uws.us_listen_socket_close(publicSocket);
    readiness.phase = 'closed';
    await spool?.flush(); // requests waiting on a commit get their answers
    const shipped = await shipEverything(Date.now() + config.shutdownTimeoutMs);
    const left = writer.used;
    // Counted before the pool closes: what is still unconfirmed is on disk (the spool's share) or lost.
    const leftInRing = backlog.eventsInRing;
    const leftInSpool = spool?.unconfirmedEvents ?? 0;
    const lost = config.durability === 'disk' ? 0 : Math.max(0, leftInRing - (spool?.eventsInRing ?? 0));
    acks.finishAll();
    const confirmed = metrics.total(METRICS.eventsShipped);
    const deadLetteredByReason = Object.fromEntries(metrics.samples(METRICS.deadLettered).map((sample) => [sample.labels.reason, sample.value]));
    const deadLettered = metrics.total(METRICS.deadLettered);
    const counts = { eventsConfirmed: confirmed, eventsDeadLettered: deadLettered, deadLetteredByReason, eventsLeftInSpool: leftInSpool, eventsLost: lost, tookMs: Date.now() - started };
    const deadLetterNote = Object.entries(deadLetteredByReason).filter(([, n]) => n > 0).map(([reason, n]) => `${n} ${reason}`).join(', ');
    if (shipped && deadLettered === 0) log.info(counts, `every buffered event was confirmed by Kinesis (${confirmed} events)`);
    else if (shipped) log.warn({ ...counts, deadLetterFile: config.deadLetterFile }, `every buffered event was settled: ${confirmed} confirmed by Kinesis, ${deadLettered} written to the dead-letter file ${config.deadLetterFile} (${deadLetterNote}); kinesis-gateway replay re-sends them`);
    else if (config.durability === 'disk') log.warn({ ...counts, bytesLeft: left, spoolBytes: spool?.bytes }, `shutdown timeout of ${config.shutdownTimeoutMs} ms passed with ${leftInSpool} events not yet confirmed by Kinesis: they stay in the spool and are replayed at the next start`);
    else log.error({ ...counts, bytesLeft: left, batchesInFlight: shipper.batchesInFlight, spoolBytes: spool?.bytes }, `shutdown timeout of ${config.shutdownTimeoutMs} ms passed with ${lost} events in the buffer not yet confirmed by Kinesis: they are lost${spool ? ` (the ${leftInSpool} the spool holds stay for the next start)` : ''}`);
    uws.us_listen_socket_close(adminSocket);
    await spool?.close();
    await shipper.close();
    localKinesis?.stop();
    log.info({
      eventsAccepted: metrics.total(METRICS.eventsAccepted),
      eventsShipped: confirmed,
      eventsDeadLettered: deadLettered,
      eventsDeadLetteredByReason: deadLetteredByReason,
      eventsReplayedFromSpool: metrics.total(METRICS.spoolReplayed),
      eventsSpilledToSpool: metrics.total(METRICS.spoolSpilled),
      eventsLeftInSpool: leftInSpool,
      eventsLost: lost,
      spoolBytesLeft: spool?.bytes ?? 0,
      bytesLeftUnshipped: left,
    }, 'shutdown complete');
    return shipped;
  }

  return { port, adminPort, shutdown };
}
