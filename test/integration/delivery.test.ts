// Acknowledged events survive a stalled Kinesis and a SIGTERM under load. The local Kinesis runs
// as its own process here so that it outlives the gateway, and can be frozen with SIGSTOP.

import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { metricsText, sendEvents, waitUntilShipped } from '../support/load';
import { until } from '../support/wait';
import { type Answer, post, startGateway, startLocalKinesis, tapStream, type Gateway } from '../support/processes';
import { tempDir } from '../support/temp-dir';

async function ringUsedBytes(gateway: Gateway): Promise<number> {
  const text = await metricsText(gateway);
  return Number(/^gateway_ring_used_bytes (\d+)$/m.exec(text)![1]);
}

/**
 * fetch's error for a request that got no answer: a TypeError whose cause has one of these codes.
 * Refused once the listener is closed; reset or closed ("other side closed") when a connection kept
 * alive is reused after the gateway closed it, or is open when the gateway exits.
 */
const NO_ANSWER = new Set(['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET']);
function gotNoAnswer(err: unknown): boolean {
  return err instanceof TypeError && NO_ANSWER.has((err.cause as { code?: string } | undefined)?.code ?? '');
}

describe('a stalled Kinesis', () => {
  it('fills the ring, gets 503 with Retry-After, loses nothing acknowledged, and recovers', async () => {
    const kinesis = await startLocalKinesis('stall', 2);
    const gateway = await startGateway([
      '--kinesis-endpoint',
      kinesis.endpoint,
      '--stream',
      'stall',
      '--ring-bytes',
      '64KiB',
      '--kinesis-request-timeout-ms',
      '300',
      '--linger-ms',
      '5',
    ]);
    try {
      kinesis.child.kill('SIGSTOP');
      const acknowledged: number[] = [];
      let refusal: Answer | undefined;
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

      // Calls in flight time out (300 ms) and are retried: let at least one fail before Kinesis is back.
      await until('a PutRecords call failed', async () => /gateway_put_records_requests_total\{outcome="error"\} [1-9]/.test(await metricsText(gateway)));
      kinesis.child.kill('SIGCONT');
      await until('the ring is empty again', async () => (await ringUsedBytes(gateway)) === 0);
      assert.equal((await post(gateway.url('/v1/events'), '{"seq":-1}')).status, 202, 'accepting again after recovery');
      assert.equal((await fetch(gateway.adminUrl('/readyz'))).status, 200, 'ready again');

      const seqs = (await tapStream(kinesis.endpoint, 'stall')).map((e) => e.event.seq as number);
      const missing = acknowledged.filter((seq) => !seqs.includes(seq));
      assert.deepEqual(missing, [], 'every acknowledged event is on the stream');
      const metrics = await metricsText(gateway);
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
    const gateway = await startGateway(['--kinesis-endpoint', kinesis.endpoint, '--stream', 'drain', '--drain-delay-ms', '3000', '--linger-ms', '20']);
    try {
      const acknowledged = new Set<number>();
      const refusals: string[] = [];
      let signalled = false;
      let acknowledgedAfterSignal = 0;
      let next = 0;
      let stop = false;
      const sender = async () => {
        while (!stop) {
          const seq = next++;
          let answer: Answer;
          try {
            answer = await post(gateway.url('/v1/events'), JSON.stringify({ seq }));
          } catch (err) {
            if (signalled && gotNoAnswer(err)) return; // the listener is closed
            throw err; // anything else (an answer that is not JSON) is a failure
          }
          if (answer.status === 202) {
            acknowledged.add(seq);
            if (signalled) acknowledgedAfterSignal++;
          } else {
            refusals.push(`${answer.status} ${JSON.stringify(answer.body)}`);
          }
        }
      };
      const senders = Promise.all(Array.from({ length: 8 }, sender));
      senders.catch(() => {}); // awaited below; this only keeps an early failure from counting as unhandled
      await until('events flow', () => acknowledged.size >= 200);
      signalled = true;
      gateway.child.kill('SIGTERM');
      await until('readiness turns 503', async () => (await fetch(gateway.adminUrl('/readyz'))).status === 503);
      const duringDrain = await post(gateway.url('/v1/events'), JSON.stringify({ seq: -1 }));
      assert.equal(duringDrain.status, 202, 'readiness failed before the listener stopped taking events');
      const exit = await gateway.exited;
      stop = true;
      await senders;
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.ok(acknowledgedAfterSignal > 0, 'events were still taken during the drain delay');
      const unexpected = refusals.filter((r) => !r.startsWith('503 ') || JSON.parse(r.slice(4)).error !== 'draining');
      assert.deepEqual(unexpected, [], 'a request refused while shutting down gets 503 draining, nothing else');
      assert.ok(gateway.logs.some((l) => /every buffered event was confirmed/.test(l.msg)));
      const summary = gateway.logs.find((l) => l.msg === 'shutdown complete');
      assert.ok(summary, 'a shutdown summary is logged');
      assert.ok((summary.eventsAccepted as number) >= acknowledged.size + 1);
      assert.equal(summary.eventsShipped, summary.eventsAccepted);
      assert.equal(summary.eventsDeadLettered, 0);

      const onStream = new Set((await tapStream(kinesis.endpoint, 'drain')).map((e) => e.event.seq as number));
      const missing = [...acknowledged].filter((seq) => !onStream.has(seq));
      assert.deepEqual(missing, [], `all ${acknowledged.size} acknowledged events are on the stream`);
      assert.ok(onStream.has(-1), 'and so is the one taken during the drain delay');
    } finally {
      await gateway.kill('SIGKILL');
      await kinesis.kill();
    }
  });
});

/** A POST whose body is sent in two parts, the second when `finish` is called; `sent` resolves once the first part is. */
function splitPost(port: number, body: string): { sent: Promise<void>; finish: () => void; answer: Promise<string> } {
  const half = body.length >> 1;
  let socket!: net.Socket;
  const sent = new Promise<void>((resolve) => {
    socket = net.connect(port, '127.0.0.1', () => {
      socket.write(`POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`);
      socket.write(body.slice(0, half), () => resolve());
    });
  });
  const chunks: Buffer[] = [];
  const answer = new Promise<string>((resolve, reject) => {
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      if (/\r\n\r\n[\s\S]*\}$/.test(Buffer.concat(chunks).toString())) resolve(Buffer.concat(chunks).toString());
    });
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', reject);
  });
  return { sent, finish: () => socket.end(body.slice(half)), answer };
}

async function readinessMessage(gateway: Gateway): Promise<string> {
  const answer = await fetch(gateway.adminUrl('/readyz'));
  return answer.status === 200 ? 'ready' : ((await answer.json()) as { message: string }).message;
}

describe('shutdown while Kinesis is stalled', () => {
  for (const durability of ['memory', 'disk'] as const) {
    it(`--durability ${durability}: a body that arrives after the listener closed gets 503 draining; past --shutdown-timeout-ms the gateway says what it leaves and exits 1`, async () => {
      const kinesis = await startLocalKinesis(`stalled-${durability}`, 1);
      const spool = durability === 'disk' ? ['--durability', 'disk', '--spool-dir', path.join(tempDir('shutdown-'), 'spool')] : [];
      const args = [
        '--kinesis-endpoint',
        kinesis.endpoint,
        '--stream',
        `stalled-${durability}`,
        '--linger-ms',
        '5',
        '--kinesis-request-timeout-ms',
        '300',
        ...spool,
      ];
      const gateway = await startGateway([...args, '--shutdown-timeout-ms', '1500']);
      try {
        kinesis.child.kill('SIGSTOP');
        const acknowledged = await sendEvents(gateway, 100, { perRequest: 10 });
        assert.equal(acknowledged.length, 100);
        const late = splitPost(gateway.port, JSON.stringify({ seq: 'late' }));
        await late.sent;
        gateway.child.kill('SIGINT');
        await until('the listener is closed', async () => /closed/.test(await readinessMessage(gateway)));
        late.finish();
        const answer = await late.answer;
        assert.match(answer, /^HTTP\/1\.1 503 /);
        assert.match(answer, /"error":"draining"/);
        assert.deepEqual(await gateway.exited, { code: 1, signal: null });
        const summary = gateway.logs.find((l) => l.msg === 'shutdown complete');
        assert.equal(summary?.eventsAccepted, 100, 'the late body was not taken');
        if (durability === 'memory') {
          assert.ok(
            gateway.logs.some((l) => l.level === 50 && /shutdown timeout of 1500 ms passed .*: they are lost$/.test(l.msg)),
            'the loss is logged as an error',
          );
          assert.ok((summary?.bytesLeftUnshipped as number) > 0);
          return;
        }
        assert.ok(
          gateway.logs.some(
            (l) => l.level === 40 && /shutdown timeout of 1500 ms passed .*they stay in the spool and are replayed at the next start$/.test(l.msg),
          ),
        );
        assert.ok((summary?.spoolBytesLeft as number) > 0);
        kinesis.child.kill('SIGCONT');
        const restarted = await startGateway(args);
        try {
          await waitUntilShipped(restarted);
          const onStream = new Set((await tapStream(kinesis.endpoint, `stalled-${durability}`)).map((e) => e.event.seq as number));
          assert.deepEqual(
            acknowledged.filter((seq) => !onStream.has(seq)),
            [],
            'the restart shipped what the spool kept',
          );
        } finally {
          await restarted.kill('SIGKILL');
        }
      } finally {
        kinesis.child.kill('SIGCONT');
        await gateway.kill('SIGKILL');
        await kinesis.kill();
      }
    });
  }
});
