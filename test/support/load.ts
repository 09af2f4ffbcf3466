// Sending known events and waiting for the gateway to have shipped them.

import { setTimeout as sleep } from 'node:timers/promises';
import { post, type Gateway } from './processes';

/** Sends `count` events as NDJSON requests of `perRequest`, `concurrency` at a time; returns the acknowledged seqs. */
export async function sendEvents(gateway: Gateway, count: number, options: { perRequest?: number; concurrency?: number; event?: (seq: number) => object } = {}): Promise<number[]> {
  const { perRequest = 20, concurrency = 8, event = (seq: number) => ({ seq }) } = options;
  const acknowledged: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const seqs = Array.from({ length: Math.min(perRequest, count - next) }, () => next++);
      const answer = await post(gateway.url('/v1/events'), seqs.map((s) => JSON.stringify(event(s))).join('\n'), { 'content-type': 'application/x-ndjson' });
      if (answer.status === 202) acknowledged.push(...seqs);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return acknowledged;
}

export async function metricsText(gateway: Gateway): Promise<string> {
  return (await fetch(gateway.adminUrl('/metrics'))).text();
}

export function metricValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.split(' ')[1]) : 0;
}

/** Waits until every acknowledged event is confirmed (or dead-lettered): the ring is empty. */
export async function waitUntilShipped(gateway: Gateway, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await metricsText(gateway);
    if (metricValue(text, 'gateway_ring_used_bytes') === 0) return text;
    if (Date.now() > deadline) throw new Error(`the ring is still not empty after ${timeoutMs} ms`);
    await sleep(100);
  }
}
