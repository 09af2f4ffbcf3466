// The same gateway against kinesis-local (kinesis-mock, the engine LocalStack uses), which checks
// requests more strictly than kinesalite. Small: it is slower to start.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { referenceDeaggregate } from '../support/kinesis-agg';
import { sendEvents, waitUntilShipped } from '../support/load';
import { freePort } from '../support/ports';
import { startGateway, tapStream } from '../support/processes';
import { readShards } from '../support/read-stream';

async function startKinesisMock(stream: string, shards: number): Promise<{ endpoint: string; child: ChildProcess }> {
  const [plain, tls] = [await freePort(), await freePort()];
  const dir = path.dirname(require.resolve('kinesis-local/package.json'));
  const child = spawn(process.execPath, [path.join(dir, 'main.js')], {
    cwd: dir, // it reads its server.json from the working directory
    env: {
      ...process.env,
      KINESIS_MOCK_PLAIN_PORT: String(plain),
      KINESIS_MOCK_TLS_PORT: String(tls),
      INITIALIZE_STREAMS: `${stream}:${shards}`,
      CREATE_STREAM_DURATION: '100ms',
      LOG_LEVEL: 'WARN',
    },
    stdio: 'ignore',
  });
  const endpoint = `http://127.0.0.1:${plain}`;
  for (let waited = 0; waited < 60_000; waited += 200) {
    const up = await new Promise<boolean>((resolve) =>
      net
        .connect(plain, '127.0.0.1')
        .once('connect', function (this: net.Socket) {
          this.destroy();
          resolve(true);
        })
        .once('error', () => resolve(false)),
    );
    if (up) return { endpoint, child };
    await sleep(200);
  }
  child.kill();
  throw new Error('kinesis-local did not start within 60 s');
}

describe('kinesis-local', () => {
  it("takes the gateway's aggregated PutRecords, and every acknowledged event reads back", async () => {
    const mock = await startKinesisMock('strict', 2);
    const gateway = await startGateway(['--kinesis-endpoint', mock.endpoint, '--stream', 'strict']);
    try {
      const acknowledged = await sendEvents(gateway, 500, { perRequest: 25 });
      assert.equal(acknowledged.length, 500, 'every request was taken');
      await waitUntilShipped(gateway, 60_000);
      const seqs = new Set((await tapStream(mock.endpoint, 'strict', 2)).map((e) => e.event.seq as number));
      assert.deepEqual(
        acknowledged.filter((s) => !seqs.has(s)),
        [],
      );
      const records = (await readShards(mock.endpoint, 'strict')).flatMap((s) => s.records);
      assert.ok(records.length < 100, `${records.length} records: aggregated`);
      assert.equal(records.flatMap((r) => referenceDeaggregate(r.data, r.partitionKey)).length, seqs.size);
      assert.equal(seqs.size, 500);
    } finally {
      await gateway.kill('SIGINT');
      mock.child.kill();
    }
  });
});
