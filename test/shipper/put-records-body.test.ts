import { KinesisClient, PutRecordsCommand, type PutRecordsCommandOutput } from '@aws-sdk/client-kinesis';
import type { HttpRequest } from '@smithy/types';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createKinesisClient } from '../../src/kinesis-client';
import { encodePutRecordsBody, putRecordsCommand, type BodyRecord } from '../../src/shipper/worker-thread/put-records-body';
import { startLocalKinesis, type LocalKinesisProcess } from '../support/processes';
import { readShards } from '../support/read-stream';

const everyByte = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const shared = new Uint8Array(new SharedArrayBuffer(4096), 1000, 301).fill(0xc8);

/** Records with the awkward parts: keys that JSON must escape or that are not ASCII, data of every length modulo 3, views of shared memory. */
const RECORDS: BodyRecord[] = [
  { data: Buffer.from('{"a":1}'), partitionKey: 'plain' },
  { data: everyByte, partitionKey: 'quote " backslash \\ newline \n tab \t', explicitHashKey: '170141183460469231731687303715884105728' },
  { data: shared, partitionKey: 'ünïcödé ✓ 𝄞 \u2028' },
  { data: everyByte.subarray(0, 1), partitionKey: 'one byte', explicitHashKey: '0' },
  { data: everyByte.subarray(0, 2), partitionKey: 'two bytes' },
  { data: new Uint8Array(0), partitionKey: 'x' },
];

/** The requests a client would send, caught before the network. */
function capturingClient(): { client: KinesisClient; requests: HttpRequest[] } {
  const requests: HttpRequest[] = [];
  const client = new KinesisClient({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    requestHandler: {
      handle: async (request: HttpRequest) => {
        requests.push(request);
        throw Object.assign(new Error('captured'), { name: 'Captured' });
      },
    },
  });
  return { client, requests };
}

function bodyBytes(body: unknown): Buffer {
  const view = body as Uint8Array;
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

describe('PutRecords body', () => {
  it('is byte for byte the body the SDK serializes for the same records', async () => {
    const { client, requests } = capturingClient();
    const input = {
      StreamName: 'a "stream"',
      Records: RECORDS.map((r) => ({ Data: r.data, PartitionKey: r.partitionKey, ExplicitHashKey: r.explicitHashKey })),
    };
    await assert.rejects(client.send(new PutRecordsCommand(input)), /captured/);
    const ours = encodePutRecordsBody('a "stream"', RECORDS);
    assert.equal(ours.toString('latin1'), bodyBytes(requests[0].body).toString('latin1'));
    client.destroy();
  });

  it('is sent as it is: the same bytes, their length, and a signature over them', async () => {
    const { client, requests } = capturingClient();
    const body = encodePutRecordsBody('events', RECORDS);
    await assert.rejects(client.send(putRecordsCommand('events', body)), /captured/);
    const [request] = requests;
    assert.equal(request.body, body);
    assert.equal(request.headers['content-length'], String(body.length));
    assert.equal(request.headers['x-amz-content-sha256'], createHash('sha256').update(body).digest('hex'));
    assert.equal(request.headers['x-amz-target'], 'Kinesis_20131202.PutRecords');
    assert.match(request.headers.authorization, /^AWS4-HMAC-SHA256 /);
    client.destroy();
  });

  it('of an empty request is still one the SDK would send', async () => {
    const { client, requests } = capturingClient();
    await assert.rejects(client.send(new PutRecordsCommand({ StreamName: 's', Records: [] })), /captured/);
    assert.equal(encodePutRecordsBody('s', []).toString(), bodyBytes(requests[0].body).toString());
    client.destroy();
  });
});

describe('PutRecords body against a local Kinesis', () => {
  const stream = 'put-records-body';
  let kinesis: LocalKinesisProcess;
  before(async () => {
    kinesis = await startLocalKinesis(stream, 2);
  });
  after(async () => {
    await kinesis.kill();
  });

  it('puts every record with its bytes and key, on the shard its explicit hash key names', async () => {
    const client = createKinesisClient({ endpoint: kinesis.endpoint });
    let answer: PutRecordsCommandOutput;
    try {
      answer = await client.send(putRecordsCommand(stream, encodePutRecordsBody(stream, RECORDS)));
    } finally {
      client.destroy();
    }
    assert.equal(answer.FailedRecordCount ?? 0, 0);
    assert.equal(answer.Records?.length, RECORDS.length);
    const shards = await readShards(kinesis.endpoint, stream);
    const stored = shards.flatMap((shard) => shard.records.map((record) => ({ ...record, shard })));
    assert.equal(stored.length, RECORDS.length);
    for (const [i, record] of RECORDS.entries()) {
      const found = stored.find((s) => s.sequenceNumber === answer.Records![i].SequenceNumber);
      assert.ok(found, `record ${i} is on the stream`);
      assert.equal(found.partitionKey, record.partitionKey);
      assert.deepEqual(new Uint8Array(found.data), new Uint8Array(record.data));
      assert.equal(found.shard.id, answer.Records![i].ShardId);
      if (record.explicitHashKey !== undefined) {
        const hashKey = BigInt(record.explicitHashKey);
        assert.ok(found.shard.start <= hashKey && hashKey <= found.shard.end, `record ${i} is on the shard of its explicit hash key`);
      }
    }
  });
});
