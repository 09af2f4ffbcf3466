// Shutdown as the load balancer, the clients and the operator see it: readiness turns 503 at once,
// events are still taken for the drain delay, then the listener closes, everything buffered ships
// (with what the spool still holds for the ring) until the shutdown timeout, every ?ack=stream
// request is answered, the log says truthfully what was confirmed, dead-lettered, left in the spool
// or lost, and the parts close in reverse of the order they opened.

import { setTimeout as sleep } from 'node:timers/promises';
import type { ServeConfig } from './config';
import type { Readiness } from './http/readiness';
import type { Backlog } from './intake/backlog';
import type { StreamAcks } from './intake/stream-acks';
import type { Lifecycle } from './lifecycle';
import type { Logger } from './log';
import { METRICS } from './metrics/metric-definitions';
import type { SharedMetrics } from './metrics/shared-metrics';
import type { RingWriter } from './ring/ring-writer';
import type { Shipper } from './shipper/main-thread/shipper';
import type { Spool } from './spool/spool';

const SHUTDOWN_POLL_MS = 20;

/** The parts of a running gateway that shutdown drives. */
export interface GatewayParts {
  readonly config: Pick<ServeConfig, 'drainDelayMs' | 'shutdownTimeoutMs' | 'durability' | 'deadLetterFile'>;
  readonly log: Logger;
  readonly readiness: Readiness;
  /** The public listener: closing it stops new connections. */
  readonly events: { close(): void };
  readonly writer: RingWriter;
  readonly shipper: Shipper;
  readonly spool: Spool | undefined;
  readonly backlog: Backlog;
  readonly acks: StreamAcks;
  readonly metrics: SharedMetrics;
  readonly lifecycle: Lifecycle;
}

/** What was still unconfirmed when shipping stopped. */
interface Leftovers {
  readonly bytesInRing: number;
  readonly eventsInSpool: number;
  readonly eventsLost: number;
}

/** Turns readiness to 503, keeps taking events for the drain delay when asked, then stops accepting. */
async function drain({ config, log, readiness, events }: GatewayParts, withDrainDelay: boolean): Promise<void> {
  readiness.phase = 'draining';
  const drainDelayMs = withDrainDelay ? config.drainDelayMs : 0;
  log.info(
    { drainDelayMs },
    drainDelayMs > 0
      ? `shutting down: readiness is now 503; still taking events for the ${drainDelayMs} ms drain delay`
      : 'shutting down: readiness is now 503; closing the listener',
  );
  if (drainDelayMs > 0) await sleep(drainDelayMs);
  events.close();
  readiness.phase = 'closed';
}

/** Ships the ring, and what the spool still holds for it, until the deadline; true when all is confirmed. */
async function shipEverything({ writer, shipper, spool }: GatewayParts, deadline: number): Promise<boolean> {
  for (;;) {
    writer.closeBatch();
    if (!(await shipper.idle(Math.max(0, deadline - Date.now())))) return false;
    if (writer.isEmpty && (spool?.caughtUp ?? true)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(SHUTDOWN_POLL_MS); // the spool is loading more into the ring
  }
}

/** Counted before the pool closes: what is still unconfirmed is on disk (the spool's share) or lost. */
function leftovers({ config, writer, backlog, spool }: GatewayParts): Leftovers {
  const eventsInRing = backlog.eventsInRing;
  return {
    bytesInRing: writer.used,
    eventsInSpool: spool?.unconfirmedEvents ?? 0,
    eventsLost: config.durability === 'disk' ? 0 : Math.max(0, eventsInRing - (spool?.eventsInRing ?? 0)),
  };
}

/** What Kinesis confirmed and what went to the dead-letter file, counted once shipping stopped. */
interface Settled {
  readonly confirmed: number;
  readonly deadLettered: number;
  readonly deadLetteredByReason: Record<string, number>;
}

function settled(metrics: SharedMetrics): Settled {
  return {
    confirmed: metrics.total(METRICS.eventsShipped),
    deadLettered: metrics.total(METRICS.deadLettered),
    deadLetteredByReason: Object.fromEntries(metrics.samples(METRICS.deadLettered).map((sample) => [sample.labels.reason, sample.value])),
  };
}

/** Says whether every buffered event was settled and, when not, where the rest is. */
function logSettlement({ config, log, shipper, spool }: GatewayParts, shipped: boolean, done: Settled, left: Leftovers, tookMs: number): void {
  const { confirmed, deadLettered, deadLetteredByReason } = done;
  const counts = {
    eventsConfirmed: confirmed,
    eventsDeadLettered: deadLettered,
    deadLetteredByReason,
    eventsLeftInSpool: left.eventsInSpool,
    eventsLost: left.eventsLost,
    tookMs,
  };
  const deadLetterNote = Object.entries(deadLetteredByReason)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${n} ${reason}`)
    .join(', ');
  const timedOut = `shutdown timeout of ${config.shutdownTimeoutMs} ms passed with`;
  if (shipped && deadLettered === 0) {
    log.info(counts, `every buffered event was confirmed by Kinesis (${confirmed} events)`);
  } else if (shipped) {
    log.warn(
      { ...counts, deadLetterFile: config.deadLetterFile },
      `every buffered event was settled: ${confirmed} confirmed by Kinesis, ${deadLettered} written to the dead-letter file ${config.deadLetterFile} ` +
        `(${deadLetterNote}); kinesis-gateway replay re-sends them`,
    );
  } else if (config.durability === 'disk') {
    log.warn(
      { ...counts, bytesLeft: left.bytesInRing, spoolBytes: spool?.bytes },
      `${timedOut} ${left.eventsInSpool} events not yet confirmed by Kinesis: they stay in the spool and are replayed at the next start`,
    );
  } else {
    log.error(
      { ...counts, bytesLeft: left.bytesInRing, batchesInFlight: shipper.batchesInFlight, spoolBytes: spool?.bytes },
      `${timedOut} ${left.eventsLost} events in the buffer not yet confirmed by Kinesis: they are lost` +
        (spool ? ` (the ${left.eventsInSpool} the spool holds stay for the next start)` : ''),
    );
  }
}

/** The totals of the whole run, once every part is closed. */
function logComplete({ log, metrics, spool }: GatewayParts, done: Settled, left: Leftovers): void {
  log.info(
    {
      eventsAccepted: metrics.total(METRICS.eventsAccepted),
      eventsShipped: done.confirmed,
      eventsDeadLettered: done.deadLettered,
      eventsDeadLetteredByReason: done.deadLetteredByReason,
      eventsReplayedFromSpool: metrics.total(METRICS.spoolReplayed),
      eventsSpilledToSpool: metrics.total(METRICS.spoolSpilled),
      eventsLeftInSpool: left.eventsInSpool,
      eventsLost: left.eventsLost,
      spoolBytesLeft: spool?.bytes ?? 0,
      bytesLeftUnshipped: left.bytesInRing,
    },
    'shutdown complete',
  );
}

/** Drains (after the drain delay when asked), ships everything buffered, and closes. Resolves true when nothing was left behind. */
export async function shutdown(parts: GatewayParts, withDrainDelay: boolean): Promise<boolean> {
  const started = Date.now();
  await drain(parts, withDrainDelay);
  await parts.spool?.flush(); // requests waiting on a commit get their answers
  const shipped = await shipEverything(parts, Date.now() + parts.config.shutdownTimeoutMs);
  const left = leftovers(parts);
  parts.acks.finishAll();
  const done = settled(parts.metrics);
  logSettlement(parts, shipped, done, left, Date.now() - started);
  await parts.lifecycle.close();
  logComplete(parts, done, left);
  return shipped;
}
