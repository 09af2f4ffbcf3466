// Acknowledged events survive a stalled Kinesis and a SIGTERM under load. The local Kinesis runs
// as its own process here so that it outlives the gateway, and can be frozen with SIGSTOP.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { post, startGateway, startLocalKinesis, tapStream, type Gateway } from '../support/processes';

async function ringUsedBytes(gateway: Gateway): Promise<number> {
  const text = await (await fetch(gateway.adminUrl('/metrics'))).text();
  return Number(/^gateway_ring_used_bytes (\d+)$/m.exec(text)![1]);
}

async function waitUntil(what: string, condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await sleep(100);
  }
}

describe('a stalled Kinesis', () => {
  it('fills the ring, gets 503 with Retry-After, loses nothing acknowledged, and recovers', async () => {
    const kinesis = await startLocalKinesis('stall', 2);
    const gateway = await startGateway(['--kinesis-endpoint', kinesis.endpoint, '--stream', 'stall', '--ring-bytes', '64KiB', '--kinesis-request-timeout-ms', '300', '--linger-ms', '5']);
    try {
      kinesis.child.kill('SIGSTOP');
      const acknowledged: number[] = [];
      let refusal;
      for (let seq = 0; seq < 500 && !refusal; seq++) {
        const answer = await post(gateway.url('/v1/events'), JSON.stringify({ seq, pad: 'p'.repeat(1000) }));
        if (answer.status === 202) acknowledged.push(seq);
        else refusal = answer;
      }
      assert.ok(refusal, 'the ring filled up');
      assert.equal(refusal.status, 503);
      assert.equal(refusal.body.error, 'buffer_full');
      assert.equal(refusal.headers.get('retry-after'), '1');
      assert.ok(acknowledged.length > 20, `${acknowledged.length} events were acknowledged before the ring was full`);
      assert.ok((await ringUsedBytes(gateway)) > 60 * 1024, 'memory stays within the ring');
      const readiness = await fetch(gateway.adminUrl('/readyz'));
      assert.equal(readiness.status, 503, 'over the high-water mark the load balancer is told to go elsewhere');
      assert.match(((await readiness.json()) as { message: string }).message, /high-water/);
      const pixel = await fetch(gateway.url('/v1/pixel.gif?seq=-2'));
      assert.equal(pixel.status, 200, 'a pixel still gets its image when its event is refused');
      assert.equal((await pixel.arrayBuffer()).byteLength, 43);

      await sleep(1000); // longer than the request timeout: calls in flight fail and are retried
      kinesis.child.kill('SIGCONT');
      await waitUntil('the ring is empty again', async () => (await ringUsedBytes(gateway)) === 0);
      assert.equal((await post(gateway.url('/v1/events'), '{"seq":-1}')).status, 202, 'accepting again after recovery');
      assert.equal((await fetch(gateway.adminUrl('/readyz'))).status, 200, 'ready again');

      const seqs = (await tapStream(kinesis.endpoint, 'stall')).map((e) => e.event.seq as number);
      const missing = acknowledged.filter((seq) => !seqs.includes(seq));
      assert.deepEqual(missing, [], 'every acknowledged event is on the stream');
      const metrics = await (await fetch(gateway.adminUrl('/metrics'))).text();
      assert.match(metrics, /gateway_put_records_requests_total\{outcome="error"\} [1-9]/, 'timed-out calls were counted');
      assert.match(metrics, /gateway_put_records_retries_total [1-9]/);
      assert.match(metrics, /gateway_events_rejected_total\{reason="buffer_full"\} [1-9]/);
      assert.match(metrics, /gateway_requests_total\{route="\/v1\/pixel.gif",status="200"\} 1/);
    } finally {
      kinesis.child.kill('SIGCONT');
      await gateway.kill('SIGINT');
      await kinesis.kill();
    }
  });
});

describe('SIGTERM under load', () => {
  it('turns readiness to 503, keeps serving through the drain delay, ships every acknowledged event and exits 0', async () => {
    const kinesis = await startLocalKinesis('drain', 2);
    const gateway = await startGateway(['--kinesis-endpoint', kinesis.endpoint, '--stream', 'drain', '--drain-delay-ms', '1500', '--linger-ms', '20']);
    try {
      const acknowledged = new Set<number>();
      let signalledAt = Infinity;
      let acknowledgedAfterSignal = 0;
      let next = 0;
      let stop = false;
      const sender = async () => {
        while (!stop) {
          const seq = next++;
          try {
            const answer = await post(gateway.url('/v1/events'), JSON.stringify({ seq }));
            if (answer.status === 202) {
              acknowledged.add(seq);
              if (Date.now() > signalledAt) acknowledgedAfterSignal++;
            } else {
              assert.equal(answer.status, 503, JSON.stringify(answer.body));
              assert.equal(answer.body.error, 'draining');
            }
          } catch {
            return; // connection refused: the listener is closed
          }
        }
      };
      const senders = Array.from({ length: 8 }, sender);
      await sleep(500);
      signalledAt = Date.now();
      gateway.child.kill('SIGTERM');
      await sleep(300);
      const readiness = await fetch(gateway.adminUrl('/readyz'));
      assert.equal(readiness.status, 503, 'readiness fails at once so the load balancer deregisters');
      const exit = await gateway.exited;
      stop = true;
      await Promise.all(senders);
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.ok(acknowledgedAfterSignal > 0, 'events were still taken during the drain delay');
      assert.ok(gateway.logs.some((l) => /every buffered event was confirmed/.test(l.msg)));
      const summary = gateway.logs.find((l) => l.msg === 'shutdown complete');
      assert.ok(summary, 'a shutdown summary is logged');
      assert.ok((summary.eventsAccepted as number) >= acknowledged.size);
      assert.equal(summary.eventsShipped, summary.eventsAccepted);
      assert.equal(summary.eventsDeadLettered, 0);

      const onStream = new Set((await tapStream(kinesis.endpoint, 'drain')).map((e) => e.event.seq as number));
      const missing = [...acknowledged].filter((seq) => !onStream.has(seq));
      assert.deepEqual(missing, [], `all ${acknowledged.size} acknowledged events are on the stream`);
    } finally {
      await gateway.kill('SIGKILL');
      await kinesis.kill();
    }
  });
});
