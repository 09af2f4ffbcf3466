// Delivery guarantees end to end: stream acknowledgements, the disk spool through crashes, outages,
// damage and a full disk, and a worker that dies mid-batch. Kinesis is a separate local-kinesis
// process (it outlives the gateways), reached directly or through the fault proxy.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { startFaultProxy } from '../support/fault-proxy';
import { flipRecordByte, spoolEntries, tearTail } from '../support/spool-files';
import { metricsText, metricValue, sendEvents, steadyLoad, waitUntilShipped } from '../support/load';
import { until } from '../support/wait';
import { post, startGateway, startLocalKinesis, tapStream, type Envelope } from '../support/processes';
import { tempDir } from '../support/temp-dir';

/** Runs serve with worker threads that die mid-task (every CRASH_WORKER_EVERY-th task of a thread). */
const SERVE_WITH_CRASHING_WORKERS = path.join(__dirname, '..', 'support', 'serve-with-crashing-workers.js');

/** A path `name` in a new temporary directory. */
function tempPath(name: string): string {
  return path.join(tempDir('durability-'), name);
}

/** How many times each seq is on the stream. */
function countBySeq(envelopes: Envelope[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const e of envelopes) counts.set(e.event.seq as number, (counts.get(e.event.seq as number) ?? 0) + 1);
  return counts;
}

function missingFrom(onStream: Map<number, number>, acknowledged: Iterable<number>): number[] {
  return [...acknowledged].filter((seq) => !onStream.has(seq));
}

function duplicates(onStream: Map<number, number>): number {
  let extra = 0;
  for (const n of onStream.values()) extra += n - 1;
  return extra;
}

describe('?ack=stream', () => {
  it('answers 200 only when every event of the request is on the stream, and says how many were when not', async (t: TestContext) => {
    const kinesis = await startLocalKinesis('acks', 2);
    const proxy = await startFaultProxy(kinesis.endpoint, { failEntries: 0.9, entryErrorCodes: ['ProvisionedThroughputExceededException'], failRequests: 0 });
    const gateway = await startGateway([
      '--kinesis-endpoint',
      proxy.endpoint,
      '--stream',
      'acks',
      '--linger-ms',
      '10',
      '--record-ttl-ms',
      '1000',
      '--aggregation-max-bytes',
      '2KiB',
    ]);
    try {
      const answers: { seqs: number[]; status: number; body: Record<string, unknown> }[] = [];
      let next = 0;
      let plainAnswersWhileParked = 0;
      const sender = async (i: number) => {
        for (let r = 0; r < 12; r++) {
          const seqs = Array.from({ length: 10 }, () => next++);
          const body = seqs.map((seq) => JSON.stringify({ seq })).join('\n');
          const headers: Record<string, string> = { 'content-type': 'application/x-ndjson' };
          const url = i % 2 === 0 ? gateway.url('/v1/events?ack=stream') : gateway.url('/v1/events');
          if (i % 2 === 1) headers['x-ack'] = 'stream';
          const answer = await post(url, body, headers);
          answers.push({ seqs, status: answer.status, body: answer.body });
        }
      };
      const senders = Array.from({ length: 6 }, (_, i) => sender(i));
      await until(
        'requests are parked while Kinesis throttles',
        async () => metricValue(await metricsText(gateway), 'gateway_ack_waiting_requests') > 0,
        30_000,
        50,
      );
      // A parked request holds nothing up: a plain request is answered meanwhile.
      const plain = await post(gateway.url('/v1/events'), JSON.stringify({ seq: -1 }));
      if (plain.status === 202) plainAnswersWhileParked++;
      await Promise.all(senders);
      assert.equal(plainAnswersWhileParked, 1);

      const onStream = countBySeq(await tapStream(kinesis.endpoint, 'acks'));
      const ok = answers.filter((a) => a.status === 200);
      const notConfirmed = answers.filter((a) => a.status === 503);
      t.diagnostic(`${ok.length} answered 200, ${notConfirmed.length} answered 503; ${proxy.counts.entriesFailed} entries throttled`);
      assert.equal(
        ok.length + notConfirmed.length,
        answers.length,
        `only 200 and 503: ${JSON.stringify(answers.filter((a) => a.status !== 200 && a.status !== 503))}`,
      );
      assert.ok(ok.length > 0 && notConfirmed.length > 0, 'with 90% throttled and a 1 s TTL, some requests are confirmed and some are not');
      for (const a of ok) {
        assert.deepEqual(a.body, { accepted: 10 });
        assert.deepEqual(missingFrom(onStream, a.seqs), [], 'a 200 means every event is on the stream');
      }
      for (const a of notConfirmed) {
        assert.equal(a.body.error, 'not_confirmed');
        const there = a.seqs.filter((seq) => onStream.has(seq)).length;
        assert.equal(a.body.confirmed, there, `the body says how many are on the stream: ${JSON.stringify(a.body)}`);
        assert.equal(a.body.deadLettered, 10 - there);
      }
      const metrics = await metricsText(gateway);
      assert.equal(metricValue(metrics, 'gateway_events_acknowledged_total{mode="stream"}'), ok.length * 10);
      assert.ok(metricValue(metrics, 'gateway_ack_wait_seconds_count') >= answers.length);
    } finally {
      await gateway.kill('SIGKILL');
      await proxy.close();
      await kinesis.kill();
    }
  });

  it('times out with 503, the confirmed count and Retry-After when Kinesis does not answer in time', async () => {
    const kinesis = await startLocalKinesis('ack-timeout', 1);
    const proxy = await startFaultProxy(kinesis.endpoint, { failEntries: 0, entryErrorCodes: [], failRequests: 0 });
    const gateway = await startGateway(['--kinesis-endpoint', proxy.endpoint, '--stream', 'ack-timeout', '--ack-timeout-ms', '700', '--linger-ms', '5']);
    try {
      proxy.faults.downUntil = Date.now() + 60_000;
      const started = Date.now();
      const answer = await post(gateway.url('/v1/events?ack=stream'), '[{"seq":1},{"seq":2}]');
      assert.equal(answer.status, 503);
      assert.equal(answer.headers.get('retry-after'), '1');
      assert.deepEqual({ ...answer.body, message: undefined }, { error: 'not_confirmed', message: undefined, accepted: 2, confirmed: 0, deadLettered: 0 });
      assert.match(answer.body.message as string, /timed out/);
      assert.ok(Date.now() - started >= 650, 'it waited for the timeout');
      proxy.faults.downUntil = 0;
      await waitUntilShipped(gateway);
      const seqs = [...countBySeq(await tapStream(kinesis.endpoint, 'ack-timeout')).keys()].sort();
      assert.deepEqual(seqs, [1, 2], 'the events stayed queued and were delivered after all');
    } finally {
      await gateway.kill('SIGKILL');
      await proxy.close();
      await kinesis.kill();
    }
  });
});

describe('a worker that dies mid-batch', () => {
  it('has its batch shipped by another worker: nothing is lost', async (t: TestContext) => {
    const kinesis = await startLocalKinesis('crash', 2);
    const gateway = await startGateway(
      ['--kinesis-endpoint', kinesis.endpoint, '--stream', 'crash', '--linger-ms', '5'],
      { CRASH_WORKER_EVERY: '3' },
      SERVE_WITH_CRASHING_WORKERS,
    );
    try {
      const acknowledged = await sendEvents(gateway, 3000, { perRequest: 25 });
      assert.equal(acknowledged.length, 3000);
      const metrics = await waitUntilShipped(gateway);
      assert.ok(metricValue(metrics, 'gateway_worker_task_failures_total') > 0, 'batches were handed over');
      assert.ok(metricValue(metrics, 'gateway_worker_restarts_total') > 0, 'workers were restarted');
      assert.equal(metricValue(metrics, 'gateway_workers'), 2);
      const onStream = countBySeq(await tapStream(kinesis.endpoint, 'crash'));
      t.diagnostic(
        `${metricValue(metrics, 'gateway_worker_task_failures_total')} batches handed over; ${duplicates(onStream)} duplicates from the halves shipped before the crashes`,
      );
      assert.deepEqual(missingFrom(onStream, acknowledged), []);
      assert.ok(
        gateway.logs.some((l) => /exits mid-task/.test(l.msg)),
        'the hook did fire',
      );
    } finally {
      await gateway.kill('SIGKILL');
      await kinesis.kill();
    }
  });
});

describe('a batch that fails every time', () => {
  it('is given up after 10 tries: its events go to the dead-letter file, counted and logged, and the gateway goes on', async () => {
    const kinesis = await startLocalKinesis('poison', 1);
    const deadLetterFile = tempPath('dead.ndjson');
    // Every task's worker ships half the batch and dies: the batch can never be confirmed.
    const args = ['--kinesis-endpoint', kinesis.endpoint, '--stream', 'poison', '--linger-ms', '5', '--dead-letter-file', deadLetterFile];
    const gateway = await startGateway(args, { CRASH_WORKER_EVERY: '1' }, SERVE_WITH_CRASHING_WORKERS);
    try {
      const acknowledged = await sendEvents(gateway, 10, { perRequest: 10 });
      const metrics = await waitUntilShipped(gateway, 120_000);
      assert.equal(metricValue(metrics, 'gateway_worker_task_failures_total'), 10, 'tried 10 times');
      assert.equal(metricValue(metrics, 'gateway_dead_letter_events_total{reason="refused"}'), 10);
      const dead = readFileSync(deadLetterFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line).event.seq as number);
      assert.deepEqual(
        dead.sort((a, b) => a - b),
        acknowledged,
        'every event of the batch is in the dead-letter file',
      );
      assert.ok(
        gateway.logs.some((l) => l.level === 50 && /failed 10 times in a row/.test(l.msg)),
        'and it is logged',
      );
      assert.equal((await fetch(gateway.adminUrl('/readyz'))).status, 200, 'the gateway goes on');
    } finally {
      await gateway.kill('SIGKILL');
      await kinesis.kill();
    }
  });
});

describe('SIGKILL under load', () => {
  it('--durability disk: after a restart on the same spool, every event that got a 2xx is on the stream', async (t: TestContext) => {
    const kinesis = await startLocalKinesis('kill-disk', 2);
    const spool = tempPath('spool');
    const args = ['--kinesis-endpoint', kinesis.endpoint, '--stream', 'kill-disk', '--durability', 'disk', '--spool-dir', spool, '--linger-ms', '20'];
    const first = await startGateway(args);
    const load = steadyLoad(first.url('/v1/events'), { perRequest: 20, concurrency: 8 });
    try {
      await until('over 1000 events are acknowledged', () => load.acknowledged.size > 1000, 60_000, 50);
      first.child.kill('SIGKILL');
      await first.exited;
      await load.stop();
      assert.ok(readdirSync(spool).length > 0, 'the killed gateway left segments');
      const second = await startGateway(args);
      try {
        const metrics = await waitUntilShipped(second, 120_000);
        const onStream = countBySeq(await tapStream(kinesis.endpoint, 'kill-disk'));
        const replayed = metricValue(metrics, 'gateway_spool_replayed_events_total');
        t.diagnostic(`${load.acknowledged.size} acknowledged; ${replayed} replayed after the restart; ${duplicates(onStream)} duplicates on the stream`);
        assert.ok(replayed > 0);
        assert.deepEqual(missingFrom(onStream, load.acknowledged.keys()), []);
        assert.ok(second.logs.some((l) => /from an earlier run: replaying/.test(l.msg)));
        assert.deepEqual(readdirSync(spool), [], 'the spool is empty once everything is confirmed');
      } finally {
        await second.kill('SIGKILL');
      }
    } finally {
      await load.stop();
      await first.kill('SIGKILL');
      await kinesis.kill();
    }
  });

  it('--durability memory: only the events not yet confirmed at the kill are lost (documented, not prevented)', async (t: TestContext) => {
    const kinesis = await startLocalKinesis('kill-memory', 2);
    const gateway = await startGateway(['--kinesis-endpoint', kinesis.endpoint, '--stream', 'kill-memory', '--linger-ms', '20']);
    const load = steadyLoad(gateway.url('/v1/events'), { perRequest: 20, concurrency: 4, pauseMs: 5 });
    try {
      await until('events have shipped under load', async () => metricValue(await metricsText(gateway), 'gateway_events_shipped_total') > 1000, 60_000, 50);
      const sampledAt = Date.now(); // before the sample: what is acknowledged while it is read counts as after it
      const metrics = await metricsText(gateway);
      const unconfirmed = metricValue(metrics, 'gateway_events_accepted_total') - metricValue(metrics, 'gateway_events_shipped_total');
      gateway.child.kill('SIGKILL');
      await gateway.exited;
      const killedAt = Date.now();
      await load.stop();
      const onStream = countBySeq(await tapStream(kinesis.endpoint, 'kill-memory'));
      const lost = missingFrom(onStream, load.acknowledged.keys());
      const acknowledgedSinceSample = [...load.acknowledged.values()].filter((at) => at >= sampledAt).length;
      const oldestLostMs = Math.max(0, ...lost.map((seq) => killedAt - load.acknowledged.get(seq)!));
      t.diagnostic(
        `${load.acknowledged.size} acknowledged, ${lost.length} lost (${unconfirmed} were unconfirmed just before the kill); the oldest lost one was acknowledged ${oldestLostMs} ms before it`,
      );
      assert.ok(load.acknowledged.size > 1000);
      assert.ok(lost.length <= unconfirmed + acknowledgedSinceSample, 'what is lost is what was still in the buffer');
    } finally {
      await load.stop();
      await gateway.kill('SIGKILL');
      await kinesis.kill();
    }
  });
});

describe('a damaged spool', () => {
  it('is reported at start, and only the damaged entries are skipped', async () => {
    const kinesis = await startLocalKinesis('damaged', 1);
    const proxy = await startFaultProxy(kinesis.endpoint, { failEntries: 0, entryErrorCodes: [], failRequests: 0 });
    const spool = tempPath('spool');
    const first = await startGateway(['--kinesis-endpoint', proxy.endpoint, '--stream', 'damaged', '--durability', 'disk', '--spool-dir', spool]);
    try {
      proxy.faults.downUntil = Date.now() + 600_000; // nothing ships: the spool keeps all 200
      // One sender: entry i of the spool holds seq i.
      const acknowledged = await sendEvents(first, 200, { perRequest: 10, concurrency: 1 });
      assert.equal(acknowledged.length, 200);
      first.child.kill('SIGKILL');
      await first.exited;
      const { files, entries } = spoolEntries(spool);
      assert.equal(entries.length, 200);
      flipRecordByte(entries[50], 40, 0x20);
      tearTail(files[files.length - 1], 3);

      const second = await startGateway(['--kinesis-endpoint', kinesis.endpoint, '--stream', 'damaged', '--durability', 'disk', '--spool-dir', spool]);
      try {
        const metrics = await waitUntilShipped(second, 120_000);
        assert.equal(metricValue(metrics, 'gateway_spool_corrupt_entries_total'), 2);
        assert.equal(metricValue(metrics, 'gateway_spool_replayed_events_total'), 198);
        const reported = second.logs
          .filter((l) => /^replayed .*skipped \d+ damaged or torn entries$/.test(l.msg))
          .reduce((sum, l) => sum + (l.corruptEntries as number), 0);
        assert.equal(reported, 2, 'the start reports what it skipped');
        const onStream = countBySeq(await tapStream(kinesis.endpoint, 'damaged'));
        assert.deepEqual(
          acknowledged.filter((seq) => !onStream.has(seq)),
          [50, 199],
          'only the flipped entry and the torn last one are lost',
        );
        assert.equal(onStream.size, 198);
      } finally {
        await second.kill('SIGKILL');
      }
    } finally {
      await first.kill('SIGKILL');
      await proxy.close();
      await kinesis.kill();
    }
  });
});
