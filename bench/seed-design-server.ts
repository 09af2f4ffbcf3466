// The original design, ported for comparison: a node:http server that calls PutRecord once per
// request and answers only after Kinesis did. (It gets the fair parts: a keep-alive HTTP/1.1 client.)

import { PutRecordCommand } from '@aws-sdk/client-kinesis';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { createKinesisClient } from '../src/kinesis-client';

const [endpoint, stream] = process.argv.slice(2);
const client = createKinesisClient({ endpoint, maxAttempts: 3 });

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const id = randomUUID();
    const envelope = `{"id":"${id}","receivedAt":${Date.now()},"ip":"${req.socket.remoteAddress}","ua":${JSON.stringify(req.headers['user-agent'] ?? '')},"path":"/v1/events","event":${Buffer.concat(chunks).toString()}}`;
    client.send(new PutRecordCommand({ StreamName: stream, PartitionKey: id, Data: Buffer.from(envelope) })).then(
      () => res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":1}'),
      (err: Error) => res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'kinesis', message: err.message })),
    );
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ msg: 'listening', port: (server.address() as AddressInfo).port })}\n`));
