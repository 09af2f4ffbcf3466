// Sending known events and waiting for the gateway to have shipped them.

import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { post, type Gateway } from './processes';

/**
 * Sends `count` events, numbered from `firstSeq`, as NDJSON requests of `perRequest`, `concurrency`
 * at a time; returns the acknowledged seqs. Any answer but 202 fails, unless `allowRefusals`: a test that counts on its
 * events being taken cannot pass on a gateway that refuses them.
 */
export async function sendEvents(
  gateway: Gateway,
  count: number,
  options: { firstSeq?: number; perRequest?: number; concurrency?: number; event?: (seq: number) => object; allowRefusals?: boolean } = {},
): Promise<number[]> {
  const { firstSeq = 0, perRequest = 20, concurrency = 8, event = (seq: number) => ({ seq }), allowRefusals = false } = options;
  const acknowledged: number[] = [];
  let next = firstSeq;
  const end = firstSeq + count;
  const worker = async () => {
    while (next < end) {
      const seqs = Array.from({ length: Math.min(perRequest, end - next) }, () => next++);
      const answer = await post(gateway.url('/v1/events'), seqs.map((s) => JSON.stringify(event(s))).join('\n'), { 'content-type': 'application/x-ndjson' });
      if (answer.status === 202) acknowledged.push(...seqs);
      else if (!allowRefusals) throw new Error(`events ${seqs[0]}..${seqs[seqs.length - 1]} were refused: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return acknowledged;
}

export async function metricsText(gateway: Gateway): Promise<string> {
  return (await fetch(gateway.adminUrl('/metrics'))).text();
}

/**
 * The value of one series of a /metrics text. A series the text lacks is 0 (sparse label sets print
 * only what is not), but a metric the text does not declare at all is an error: a renamed metric
 * must fail the test that reads it, not read as 0.
 */
export function metricValue(text: string, series: string): number {
  const name = series.replace(/\{.*$/, '');
  const declared = (family: string) => text.includes(`# TYPE ${family} `);
  if (!declared(name) && !declared(name.replace(/_(count|sum|bucket)$/, ''))) throw new Error(`/metrics has no metric ${name}`);
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

/**
 * Waits until every acknowledged event is confirmed (or dead-lettered): the ring is empty, and so is
 * the spool (its gauge is 0 without one).
 */
export async function waitUntilShipped(gateway: Gateway, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await metricsText(gateway);
    if (metricValue(text, 'gateway_ring_used_bytes') === 0 && metricValue(text, 'gateway_spool_bytes') === 0) return text;
    if (Date.now() > deadline) throw new Error(`the ring or the spool is still not empty after ${timeoutMs} ms`);
    await sleep(100);
  }
}

export interface SteadyLoad {
  /** Acknowledged (2xx) seqs, with the time of their answer. */
  readonly acknowledged: Map<number, number>;
  /** Answers by status; `error` counts requests that got no answer (connection refused or reset). */
  readonly statuses: Map<number | 'error', number>;
  /** Stops sending and waits for the requests in flight. */
  stop(): Promise<void>;
}

/**
 * Sends NDJSON requests of `perRequest` events from `concurrency` senders, each pausing `pauseMs`
 * between requests, until stopped. A sender carries on after a request fails.
 */
export function steadyLoad(url: string, options: { perRequest?: number; concurrency?: number; pauseMs?: number; pad?: number } = {}): SteadyLoad {
  const { perRequest = 20, concurrency = 4, pauseMs = 0, pad = 0 } = options;
  const acknowledged = new Map<number, number>();
  const statuses = new Map<number | 'error', number>();
  const padding = 'p'.repeat(pad);
  let next = 0;
  let stopped = false;
  const sender = async () => {
    while (!stopped) {
      const seqs = Array.from({ length: perRequest }, () => next++);
      let status: number | 'error';
      try {
        const body = seqs.map((seq) => JSON.stringify(pad ? { seq, padding } : { seq })).join('\n');
        status = (await post(url, body, { 'content-type': 'application/x-ndjson' })).status;
      } catch {
        status = 'error';
        await sleep(50);
      }
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (status === 200 || status === 202) for (const seq of seqs) acknowledged.set(seq, Date.now());
      if (pauseMs > 0) await sleep(pauseMs);
    }
  };
  const senders = Array.from({ length: concurrency }, sender);
  return {
    acknowledged,
    statuses,
    async stop() {
      stopped = true;
      await Promise.all(senders);
    },
  };
}

/** Resident memory of a process, from /proc. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]) * 1024;
}
