// tap against a local-kinesis process, through the fault proxy where a test needs to see or break
// its calls: reading from the latest record, an iterator that expires, and a stream that is missing.

import assert from 'node:assert/strict';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { parseOptions, TAP_SCHEMA } from '../../src/config';
import { createKinesisClient } from '../../src/kinesis-client';
import { tap } from '../../src/tap/tap';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy';
import { runCli, startLocalKinesis, type LocalKinesisProcess } from '../support/processes';
import { createStream } from '../support/read-stream';
import { until } from '../support/wait';

let kinesis: LocalKinesisProcess;
let proxy: FaultProxy;
before(async () => {
  kinesis = await startLocalKinesis('unused', 1);
  proxy = await startFaultProxy(kinesis.endpoint, { failEntries: 0, entryErrorCodes: [], failRequests: 0 });
});
after(async () => {
  await proxy?.close();
  await kinesis?.kill();
});

async function put(stream: string, seqs: number[]): Promise<void> {
  const client = createKinesisClient({ endpoint: kinesis.endpoint });
  try {
    await client.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: seqs.map((seq) => ({ Data: Buffer.from(JSON.stringify({ event: { seq } })), PartitionKey: `k${seq}` })),
      }),
    );
  } finally {
    client.destroy();
  }
}

/** Runs tap in this process; `lines` fills as it prints, `done` resolves when it exits (idle for 2 s). */
function runTap(stream: string, from: 'trim-horizon' | 'latest'): { lines: number[]; done: Promise<void> } {
  const out = new PassThrough();
  const lines: number[] = [];
  let partial = '';
  out.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const parts = text.split('\n');
    partial = parts.pop()!;
    for (const line of parts) lines.push(JSON.parse(line).event.seq);
  });
  const config = parseOptions(TAP_SCHEMA, ['--endpoint', proxy.endpoint, '--stream', stream, '--from', from, '--idle-exit', '2'], {});
  return { lines, done: tap(config, out) };
}

const calls = (operation: string) => proxy.counts.byOperation.get(operation) ?? 0;

describe('tap', () => {
  it('--from latest prints only what is written after it started', async () => {
    await createStream(kinesis.endpoint, 'latest', 2);
    await put('latest', [1, 2, 3]);
    const iteratorsBefore = calls('GetShardIterator');
    const reading = runTap('latest', 'latest');
    await until('tap holds an iterator for each shard', () => calls('GetShardIterator') >= iteratorsBefore + 2);
    await put('latest', [4, 5, 6]);
    await reading.done;
    assert.deepEqual(reading.lines.sort(), [4, 5, 6]);
  });

  it('takes a new iterator after the last record it printed when one expires: nothing is missed or printed twice', async () => {
    await createStream(kinesis.endpoint, 'expiring', 1);
    await put('expiring', [1, 2, 3]);
    const reading = runTap('expiring', 'trim-horizon');
    await until('tap printed the first records', () => reading.lines.length === 3);
    proxy.faults.expireGetRecords = 1;
    await until('the iterator expired', () => proxy.faults.expireGetRecords === 0);
    await put('expiring', [4, 5, 6]);
    await reading.done;
    assert.deepEqual(reading.lines, [1, 2, 3, 4, 5, 6]);
  });

  it('exits 1 naming the stream when it does not exist', async () => {
    const running = runCli(['tap', '--endpoint', kinesis.endpoint, '--stream', 'nowhere', '--idle-exit', '1']);
    assert.equal((await running.exited).code, 1);
    const stderr = running.stderr.join('\n');
    assert.match(stderr, /ResourceNotFoundException/);
    assert.match(stderr, /nowhere/);
  });
});
