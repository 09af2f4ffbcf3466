// `serve`: opens the gateway's parts in the order they depend on each other, each registering its
// close step with the lifecycle as it opens. A start that fails closes what it had opened;
// shutdown.ts drains, ships and closes the rest.

import { effectiveRecordTtlMs, type ServeConfig } from './config';
import { GatewayError, StartupError } from './errors';
import { parsePartitionKeyRule } from './events/partition-key';
import { Admission } from './http/admission';
import { createAdminApp } from './http/admin-app';
import { createPublicApp } from './http/public-app';
import { Readiness } from './http/readiness';
import { RequestMetrics } from './http/request-metrics';
import { UWS_BUILD, uws, uwsFallbackProblem, type TemplatedApp, type us_listen_socket } from './http/uws';
import { Backlog } from './intake/backlog';
import { Intake, intakeCounters } from './intake/intake';
import { StreamAcks } from './intake/stream-acks';
import { createKinesisClient, type KinesisTarget } from './kinesis-client';
import { startLocalKinesis, type LocalKinesis } from './kinesis-local/local-kinesis';
import { Lifecycle } from './lifecycle';
import type { Logger } from './log';
import { METRICS } from './metrics/metric-definitions';
import { createRegistry } from './metrics/registry';
import { SharedMetrics } from './metrics/shared-metrics';
import { createRingBuffer } from './ring/ring-layout';
import { RingWriter, type BatchDescriptor, type BatchLimits } from './ring/ring-writer';
import { MAX_BYTES_PER_REQUEST, MAX_RECORDS_PER_REQUEST } from './kinesis-limits';
import { Shipper, type ShipperOptions } from './shipper/main-thread/shipper';
import { shutdown, type GatewayParts } from './shutdown';
import { rejectsFileOf } from './rejects/rejects-file';
import { Spool, spoolCounters } from './spool/spool';
import { waitForActiveStream } from './stream-status';

const VERSION: string = require('../../package.json').version;

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

export interface RunningGateway {
  readonly port: number;
  readonly adminPort: number;
  /** Drains (after the drain delay when asked), ships everything buffered, and closes. Resolves true when nothing was left behind. */
  shutdown(withDrainDelay: boolean): Promise<boolean>;
}

interface StartedGateway extends GatewayParts {
  readonly port: number;
  readonly adminPort: number;
}

/** The Kinesis the gateway ships to, and the embedded one when it started one. */
interface KinesisSetup {
  readonly target: KinesisTarget;
  readonly local: LocalKinesis | undefined;
}

interface Listener {
  readonly port: number;
  /** Stops accepting connections; closing twice is harmless. */
  close(): void;
}

type SettledListener = (batch: BatchDescriptor, deadLettered: readonly number[]) => void;

/**
 * Where the shipper reports settled batches. The parts holding them (the ring writer, then the
 * intake) are built on the shipper, so they subscribe once they are made, in that order.
 */
class BatchSettlement {
  private readonly listeners: SettledListener[] = [];

  readonly settled: SettledListener = (batch, deadLettered) => {
    for (const listener of this.listeners) listener(batch, deadLettered);
  };

  subscribe(listener: SettledListener): void {
    this.listeners.push(listener);
  }
}

async function listen(app: TemplatedApp, host: string, port: number, what: string, lifecycle: Lifecycle): Promise<Listener> {
  const token = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(host, port, (socket) =>
      socket ? resolve(socket) : reject(new StartupError('listen_failed', `cannot listen for ${what} on ${host}:${port} (in use or not permitted)`)),
    );
  });
  let open = true;
  const listener = {
    port: uws.us_socket_local_port(token),
    close: () => {
      if (open) uws.us_listen_socket_close(token);
      open = false;
    },
  };
  lifecycle.onClose(`the ${what} listener`, listener.close);
  return listener;
}

/**
 * What one worker task may hold. Unaggregated, one PutRecords call. Aggregated, a task's events
 * shrink into a few records, so it may hold many more: it is bounded by bytes (room left for the
 * aggregation overhead within one 5 MiB call).
 */
function taskLimits(config: ServeConfig): { readonly maxRecords: number; readonly maxBytes: number } {
  if (config.aggregation === 'off') return { maxRecords: MAX_RECORDS_PER_REQUEST, maxBytes: MAX_BYTES_PER_REQUEST };
  return { maxRecords: 100_000, maxBytes: Math.floor(MAX_BYTES_PER_REQUEST * 0.8) };
}

/**
 * Aggregated ring batches close at 1 MiB (or at the linger time): a task is made of whole batches,
 * and under the bytes-in-flight bound each worker's task may hold only its share of it (1.5 MiB at
 * the floor), so a 4 MiB batch would leave one worker idle in a catch-up. Consecutive batches
 * still merge into one task up to taskLimits() when the bound allows it.
 */
const AGGREGATED_BATCH_BYTES = 1024 * 1024;

function batchLimits(config: ServeConfig): BatchLimits {
  const task = taskLimits(config);
  if (config.aggregation === 'off') return { ...task, lingerMs: config.lingerMs };
  return { maxRecords: task.maxRecords, maxBytes: AGGREGATED_BATCH_BYTES, lingerMs: config.lingerMs };
}

function readAdmission(config: ServeConfig): Admission {
  try {
    const { corsOrigins, writeKeys, writeKeysFile, rateLimitPerIp } = config;
    return new Admission({ corsOrigins, writeKeys, writeKeysFile, rateLimitPerIp });
  } catch (err) {
    throw new StartupError('write_keys_unreadable', `cannot read --write-keys-file ${config.writeKeysFile}: ${(err as Error).message}`, { cause: err });
  }
}

/** The configured Kinesis; with neither endpoint nor region, the embedded local Kinesis, started here. */
async function openKinesis(config: ServeConfig, log: Logger, lifecycle: Lifecycle): Promise<KinesisSetup> {
  const target: KinesisTarget = {
    endpoint: config.kinesisEndpoint,
    region: config.region,
    connectTimeoutMs: config.kinesisConnectTimeoutMs,
    requestTimeoutMs: config.kinesisRequestTimeoutMs,
  };
  if (config.kinesisEndpoint || config.region) return { target, local: undefined };
  // If the child dies it is started again on the same port, and the stream created again.
  const local = await startLocalKinesis(config.localKinesisPort, {
    log,
    onRestarted: async (endpoint) => {
      const client = createKinesisClient({ ...target, endpoint });
      try {
        await waitForActiveStream({ client, stream: config.stream, where: endpoint, log, createShards: config.localKinesisShards });
      } finally {
        client.destroy();
      }
    },
  });
  lifecycle.onClose('the local Kinesis', () => local.stop());
  return { target: { ...target, endpoint: local.endpoint }, local };
}

/**
 * The first line says what runs: the uWS build (a fallback or a legacy build is visible at once)
 * and, when there is one, the embedded local Kinesis.
 */
function logRuntime(config: ServeConfig, log: Logger, local: LocalKinesis | undefined): void {
  const runtime = `kinesis-gateway ${VERSION} on Node ${process.version} with uWebSockets.js ${UWS_BUILD.version} (${UWS_BUILD.kind} build)`;
  log.info(
    {
      version: VERSION,
      node: process.version,
      uws: UWS_BUILD,
      kinesisEndpoint: local?.endpoint,
      stream: config.stream,
      shards: local ? config.localKinesisShards : undefined,
    },
    local
      ? `${runtime}; no Kinesis endpoint or region configured: ` +
          `started the embedded local Kinesis (kinesalite) at ${local.endpoint} with stream ${config.stream}`
      : runtime,
  );
  log.info({ config, version: VERSION }, 'effective configuration');
  if (!UWS_BUILD.native) log.warn(uwsFallbackProblem());
  if (NODE_MAJOR < 22) {
    log.warn(
      { node: process.version },
      `Node ${process.version} is past its end of life and the AWS SDK will stop supporting it: run Node 24 (see docs/runtime.md)`,
    );
  }
}

/** The spool of --spool-dir, with the segments an earlier run left; none without the option. */
function openSpool(config: ServeConfig, ring: RingWriter, metrics: SharedMetrics, log: Logger, backlog: Backlog, lifecycle: Lifecycle): Spool | undefined {
  if (!config.spoolDir) return undefined;
  let spool: Spool;
  try {
    spool = new Spool({
      dir: config.spoolDir,
      maxBytes: config.spoolMaxBytes,
      segmentBytes: config.spoolSegmentBytes,
      commitMs: config.spoolCommitMs,
      ring,
      log,
      counters: spoolCounters(metrics),
      deadLetterFile: config.deadLetterFile,
      onLoaded: (seq, receivedAt) => backlog.written(seq, 1, receivedAt),
    });
  } catch (err) {
    throw new StartupError('spool_unusable', `cannot open --spool-dir ${config.spoolDir}: ${(err as Error).message}`, { cause: err });
  }
  lifecycle.onClose('the spool', () => spool.close());
  return spool;
}

/** Age of the oldest event accepted and not yet confirmed (in the ring, or waiting in the spool); 0 when there is none. */
function oldestUnconfirmedAgeSeconds(backlog: Backlog, spool: Spool | undefined): number {
  const inRing = backlog.oldestReceivedAt ?? Number.POSITIVE_INFINITY;
  const oldest = Math.min(inRing, spool?.oldestUnloadedAt ?? Number.POSITIVE_INFINITY);
  return Number.isFinite(oldest) ? Math.max(0, Date.now() - oldest) / 1000 : 0;
}

/** Waits until the stream is ACTIVE (creating it on the embedded local Kinesis); its open shards. */
async function confirmStream(config: ServeConfig, log: Logger, kinesis: KinesisSetup, where: string): Promise<number> {
  const client = createKinesisClient(kinesis.target);
  try {
    return await waitForActiveStream({ client, stream: config.stream, where, log, createShards: kinesis.local ? config.localKinesisShards : undefined });
  } catch (err) {
    throw err instanceof GatewayError ? err : new StartupError('stream_unconfirmed', (err as Error).message, { cause: err });
  } finally {
    client.destroy();
  }
}

async function start(config: ServeConfig, log: Logger, lifecycle: Lifecycle, injected: InjectedParts): Promise<StartedGateway> {
  if (!UWS_BUILD.native && !config.allowUwsFallback) throw new StartupError('uws_fallback', uwsFallbackProblem());
  // Read the write keys before anything starts, so that a bad file stops nothing half-started.
  const admission = readAdmission(config);
  const kinesis = await openKinesis(config, log, lifecycle);
  logRuntime(config, log, kinesis.local);

  const metrics = new SharedMetrics();
  const requestMetrics = new RequestMetrics(metrics);
  // Keys taken from a field are there to keep each key's events in order: ship in order then.
  const ordered = config.partitionKey !== 'random';
  const ringBuffer = createRingBuffer(config.ringBytes);
  const limits = batchLimits(config);
  const task = taskLimits(config);
  const settlement = new BatchSettlement();
  const shipper = new Shipper({
    workerFile: injected.workerFile,
    workers: config.workers,
    batchesPerWorker: config.batchesPerWorker,
    ordered,
    maxTaskRecords: task.maxRecords,
    maxTaskBytes: task.maxBytes,
    log,
    onConfirmed: settlement.settled,
    batchesShipped: metrics.counter(METRICS.batchesShipped),
    taskFailures: metrics.counter(METRICS.workerTaskFailures),
    workerRestarts: metrics.counter(METRICS.workerRestarts),
    workerData: {
      ring: ringBuffer,
      metrics: metrics.buffer,
      kinesis: kinesis.target,
      stream: config.stream,
      logLevel: config.logLevel,
      workers: config.workers,
      aggregationMaxBytes: config.aggregation === 'on' ? config.aggregationMaxBytes : 0,
      rateLimitPercent: config.rateLimitPercent,
      recordTtlMs: effectiveRecordTtlMs(config),
      deadLetterFile: config.deadLetterFile,
      ordered,
    },
  });
  lifecycle.onClose('the shipper pool', () => shipper.close());
  const writer = new RingWriter(ringBuffer, limits, (batch) => shipper.ship(batch));
  settlement.subscribe((batch) => writer.release(batch));
  const backlog = new Backlog();
  const spool = openSpool(config, writer, metrics, log, backlog, lifecycle);
  const acks = new StreamAcks(config.ackTimeoutMs, metrics.histogram(METRICS.ackWait));
  const intake = new Intake({
    ring: writer,
    spool,
    durability: config.durability,
    acks,
    backlog,
    keyRule: parsePartitionKeyRule(config.partitionKey),
    counters: intakeCounters(metrics),
  });
  settlement.subscribe((batch, deadLettered) => intake.settled(batch, deadLettered));
  // With a spool, a full ring is no reason to turn traffic away: a filling spool is.
  const readiness = new Readiness(
    spool
      ? () => spool.bytes > (config.spoolMaxBytes * config.readyMaxBufferPercent) / 100
      : () => writer.used > (writer.capacity * config.readyMaxBufferPercent) / 100,
  );
  const registry = createRegistry(
    metrics,
    {
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
    },
    { version: VERSION, uwsVersion: UWS_BUILD.version, uwsBuild: UWS_BUILD.kind },
  );

  const rejects = rejectsFileOf(config, metrics);
  if (rejects) lifecycle.onClose('the rejects file', () => rejects.drained());
  const publicApp = createPublicApp({
    maxBodyBytes: config.maxBodyBytes,
    maxInflatedBytes: config.maxInflatedBytes,
    maxInflateRatio: config.maxInflateRatio,
    trustProxyHops: config.trustProxyHops,
    maxEventDepth: config.maxEventDepth,
    maxHeaderBytes: config.maxHeaderBytes,
    maxUrlBytes: config.maxUrlBytes,
    bodyTimeoutMs: config.bodyTimeoutMs,
    admission,
    intake,
    readiness,
    metrics: requestMetrics,
    log,
    ipPolicy: config.ipPolicy,
    rejects,
  });
  const adminApp = createAdminApp(registry, readiness, requestMetrics);
  const events = await listen(publicApp, config.host, config.port, 'events', lifecycle);
  const admin = await listen(adminApp, config.adminHost, config.adminPort, 'admin', lifecycle);
  log.info(
    { port: events.port, adminPort: admin.port, nativeUws: UWS_BUILD.native },
    `listening on ${config.host}:${events.port} (events) and ${config.adminHost}:${admin.port} (admin); not ready until the stream is confirmed`,
  );

  const where = kinesis.target.endpoint ?? `region ${config.region}`;
  const shards = await confirmStream(config, log, kinesis, where);
  readiness.phase = 'ready';
  log.info({ stream: config.stream, shards, kinesisEndpoint: where }, `stream ${config.stream} is ACTIVE with ${shards} open shards: ready`);
  spool?.refill();
  return { config, log, readiness, events, writer, shipper, spool, backlog, acks, metrics, lifecycle, port: events.port, adminPort: admin.port };
}

/** What tests may replace: the worker module (one that crashes now and then, say). */
export type InjectedParts = Pick<ShipperOptions, 'workerFile'>;

export async function serve(config: ServeConfig, log: Logger, injected: InjectedParts = {}): Promise<RunningGateway> {
  const lifecycle = new Lifecycle();
  const gateway = await start(config, log, lifecycle, injected).catch(async (err: unknown) => {
    await lifecycle.close().catch((closeErr: Error) => log.error({ err: closeErr.message }, 'a part did not close after the failed start'));
    throw err;
  });
  return { port: gateway.port, adminPort: gateway.adminPort, shutdown: (withDrainDelay) => shutdown(gateway, withDrainDelay) };
}
