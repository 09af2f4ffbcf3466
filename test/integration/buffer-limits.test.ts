// The edges of the buffer: an event too large for it, ?ack=stream when it is full or with the disk
// spool, and readiness against the spool's high-water mark. Kinesis is a local-kinesis process that
// the tests freeze with SIGSTOP so that nothing ships.

import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { metricsText, metricValue, waitUntilShipped } from '../support/load';
import { post, startGateway, startLocalKinesis, tapStream, type Gateway } from '../support/processes';
import { until } from '../support/wait';
import { tempDir } from '../support/temp-dir';

const KiB = 1024;

function spoolDir(): string {
  return path.join(tempDir('buffer-limits-'), 'spool');
}

async function readiness(gateway: Gateway): Promise<{ status: number; message?: string }> {
  const answer = await fetch(gateway.adminUrl('/readyz'));
  return { status: answer.status, message: answer.status === 200 ? undefined : ((await answer.json()) as { message: string }).message };
}

describe("the buffer's limits", () => {
  it('refuses a request whose events take more than half the ring with 413 body_too_large, and takes the next', async () => {
    const gateway = await startGateway(['--ring-bytes', '64KiB', '--max-body-bytes', '256KiB']);
    try {
      const one = await post(gateway.url('/v1/events'), JSON.stringify({ pad: 'x'.repeat(40 * KiB) }));
      assert.equal(one.status, 413);
      assert.equal(one.body.error, 'body_too_large');
      assert.match(one.body.message as string, /more than half the gateway buffer/);
      const two = await post(gateway.url('/v1/events'), [1, 2].map((n) => JSON.stringify({ n, pad: 'x'.repeat(20 * KiB) })).join('\n'), {
        'content-type': 'application/x-ndjson',
      });
      assert.equal(two.status, 413, 'the events of a request count together');
      assert.equal((await post(gateway.url('/v1/events'), JSON.stringify({ pad: 'x'.repeat(20 * KiB) }))).status, 202, 'under half the ring is taken');
      const metrics = await waitUntilShipped(gateway);
      assert.equal(metricValue(metrics, 'gateway_events_rejected_total{reason="body_too_large"}'), 2);
      assert.equal(metricValue(metrics, 'gateway_events_accepted_total'), 1);
    } finally {
      await gateway.kill('SIGKILL');
    }
  });

  it('?ack=stream needs room in the ring: with the ring full it gets 503 buffer_full at once, even while the spool takes plain requests', async () => {
    const kinesis = await startLocalKinesis('full-ack', 1);
    const gateway = await startGateway([
      '--kinesis-endpoint',
      kinesis.endpoint,
      '--stream',
      'full-ack',
      '--ring-bytes',
      '64KiB',
      '--spool-dir',
      spoolDir(),
      '--kinesis-request-timeout-ms',
      '300',
    ]);
    try {
      kinesis.child.kill('SIGSTOP');
      // Until the ring is full plain requests go to the ring; then they spill to the spool, still 202.
      await until('events spill to the spool', async () => {
        await post(gateway.url('/v1/events'), JSON.stringify({ pad: 'p'.repeat(KiB) }));
        return metricValue(await metricsText(gateway), 'gateway_spool_spilled_events_total') > 0;
      });
      const waiting = await post(gateway.url('/v1/events?ack=stream'), JSON.stringify({ seq: 'stream' }));
      assert.equal(waiting.status, 503);
      assert.equal(waiting.body.error, 'buffer_full');
      assert.match(waiting.body.message as string, /needs room in memory, not the spool/);
      assert.equal(waiting.headers.get('retry-after'), '1');
      assert.equal((await post(gateway.url('/v1/events'), JSON.stringify({ seq: 'plain' }))).status, 202, 'a plain request is still spooled');
      assert.equal(metricValue(await metricsText(gateway), 'gateway_ack_waiting_requests'), 0, 'nothing was parked');
    } finally {
      kinesis.child.kill('SIGCONT');
      await gateway.kill('SIGKILL');
      await kinesis.kill();
    }
  });

  it('?ack=stream with --durability disk: 200 once on the stream; a request that timed out is kept in the spool through a crash', async () => {
    const kinesis = await startLocalKinesis('disk-ack', 1);
    const args = [
      '--kinesis-endpoint',
      kinesis.endpoint,
      '--stream',
      'disk-ack',
      '--durability',
      'disk',
      '--spool-dir',
      spoolDir(),
      '--kinesis-request-timeout-ms',
      '300',
      '--linger-ms',
      '5',
    ];
    const gateway = await startGateway([...args, '--ack-timeout-ms', '1000']);
    try {
      const confirmed = await post(gateway.url('/v1/events?ack=stream'), '[{"seq":1},{"seq":2}]');
      assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
      assert.deepEqual(confirmed.body, { accepted: 2 });
      const metrics = await metricsText(gateway);
      assert.equal(metricValue(metrics, 'gateway_events_acknowledged_total{mode="stream"}'), 2);
      assert.ok(metricValue(metrics, 'gateway_spool_commits_total{outcome="ok"}') >= 1, 'the events went through the spool');

      kinesis.child.kill('SIGSTOP');
      const timedOut = await post(gateway.url('/v1/events?ack=stream'), '[{"seq":3},{"seq":4}]');
      assert.equal(timedOut.status, 503);
      assert.equal(timedOut.body.error, 'not_confirmed');
      await until('the spool has committed them', async () => metricValue(await metricsText(gateway), 'gateway_spool_commits_total{outcome="ok"}') >= 2);
      gateway.child.kill('SIGKILL');
      await gateway.exited;
      kinesis.child.kill('SIGCONT');

      const restarted = await startGateway(args);
      try {
        await waitUntilShipped(restarted);
        const seqs = new Set((await tapStream(kinesis.endpoint, 'disk-ack')).map((e) => e.event.seq as number));
        assert.deepEqual(
          [1, 2, 3, 4].filter((seq) => !seqs.has(seq)),
          [],
          'the timed-out request was replayed from the spool',
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

  it('/readyz stays 200 while only the ring is full, and turns 503 once the spool passes its high-water mark', async () => {
    const kinesis = await startLocalKinesis('high-water', 1);
    const gateway = await startGateway([
      '--kinesis-endpoint',
      kinesis.endpoint,
      '--stream',
      'high-water',
      '--ring-bytes',
      '64KiB',
      '--spool-dir',
      spoolDir(),
      '--spool-max-bytes',
      '1MiB',
      '--ready-max-buffer-percent',
      '25',
      '--kinesis-request-timeout-ms',
      '300',
    ]);
    try {
      kinesis.child.kill('SIGSTOP');
      await until('events spill to the spool', async () => {
        await post(gateway.url('/v1/events'), JSON.stringify({ pad: 'p'.repeat(KiB) }));
        return metricValue(await metricsText(gateway), 'gateway_spool_spilled_events_total') > 0;
      });
      assert.deepEqual(await readiness(gateway), { status: 200, message: undefined }, 'with a spool a full ring is no reason to turn traffic away');
      let spoolBytes = 0;
      await until('the spool passes 25% of 1 MiB', async () => {
        await post(gateway.url('/v1/events'), JSON.stringify({ pad: 'p'.repeat(KiB) }));
        spoolBytes = metricValue(await metricsText(gateway), 'gateway_spool_bytes');
        if (spoolBytes <= 256 * KiB) assert.equal((await readiness(gateway)).status, 200, `ready at ${spoolBytes} spool bytes`);
        return spoolBytes > 256 * KiB;
      });
      const notReady = await readiness(gateway);
      assert.equal(notReady.status, 503);
      assert.match(notReady.message!, /high-water/);
      assert.equal(
        (await post(gateway.url('/v1/events'), JSON.stringify({ seq: 'still' }))).status,
        202,
        'not ready is advice to the load balancer: events are still taken',
      );
    } finally {
      kinesis.child.kill('SIGCONT');
      await gateway.kill('SIGKILL');
      await kinesis.kill();
    }
  });
});
