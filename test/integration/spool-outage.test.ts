// The disk spool when the disk fills up. (Kinesis down for a minute under steady load with a spool,
// connections reset among the ways, is in outage.test.ts, which runs its gateways in one window.)

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { metricsText, metricValue, waitUntilShipped } from '../support/load';
import { type Answer, post, startGateway, startLocalKinesis, tapStream } from '../support/processes';
import { tempDir } from '../support/temp-dir';
import { until } from '../support/wait';

describe('a full disk', () => {
  it('gets 503 instead of an acknowledgement, shows in metrics and logs, and recovers when space returns', async () => {
    const kinesis = await startLocalKinesis('disk-full', 1);
    const mount = tempDir('small-disk-'); // removed on exit, once unmounted
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mount]);
    const spool = path.join(mount, 'spool');
    mkdirSync(spool);
    const gateway = await startGateway(['--kinesis-endpoint', kinesis.endpoint, '--stream', 'disk-full', '--durability', 'disk', '--spool-dir', spool]);
    try {
      const filler = path.join(mount, 'filler');
      writeFileSync(filler, Buffer.alloc(900 * 1024));
      const acknowledged: number[] = [];
      let refusal: Answer | undefined;
      const event = (seq: number) => JSON.stringify({ seq, pad: 'p'.repeat(1000) });
      for (let seq = 0; seq < 2000 && !refusal; seq += 10) {
        const seqs = Array.from({ length: 10 }, (_, i) => seq + i);
        const answer = await post(gateway.url('/v1/events'), seqs.map(event).join('\n'), { 'content-type': 'application/x-ndjson' });
        if (answer.status === 202) acknowledged.push(...seqs);
        else refusal = answer;
      }
      assert.ok(refusal, 'the disk filled up');
      assert.equal(refusal.status, 503);
      assert.equal(refusal.body.error, 'spool_unavailable');
      assert.match(refusal.body.message as string, /ENOSPC/);
      assert.equal(refusal.headers.get('retry-after'), '1');
      const failing = await metricsText(gateway);
      assert.equal(metricValue(failing, 'gateway_spool_writable'), 0);
      assert.ok(metricValue(failing, 'gateway_spool_commits_total{outcome="error"}') >= 1);
      await gateway.waitForLog((l) => /cannot write the spool \(ENOSPC/.test(l.msg), 1000);
      const again = await post(gateway.url('/v1/events'), event(-1));
      assert.equal(again.status, 503, 'refused at once while the spool is failing');

      rmSync(filler);
      // The spool tries a commit again a while after a failure: until then every request is refused.
      await until(
        'an event is acknowledged again',
        async () => {
          const answer = await post(gateway.url('/v1/events'), event(5000));
          if (answer.status !== 202) assert.equal(answer.body.error, 'spool_unavailable', JSON.stringify(answer.body));
          return answer.status === 202;
        },
        30_000,
        100,
      );
      acknowledged.push(5000);
      assert.equal(metricValue(await metricsText(gateway), 'gateway_spool_writable'), 1);
      await gateway.waitForLog((l) => l.msg === 'the spool is writable again', 1000);

      await waitUntilShipped(gateway, 120_000);
      const onStream = new Set((await tapStream(kinesis.endpoint, 'disk-full')).map((e) => e.event.seq as number));
      assert.deepEqual(
        acknowledged.filter((seq) => !onStream.has(seq)),
        [],
        'every acknowledged event is on the stream',
      );
    } finally {
      await gateway.kill('SIGKILL');
      await kinesis.kill();
      execFileSync('umount', [mount]);
    }
  });
});
