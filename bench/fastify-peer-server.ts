// The peer a Node user would pick instead of this gateway: fastify answering 202 at once, and an
// in-process batching producer on the same thread. Records wait in memory and go out as PutRecords
// of up to 500 every 100 ms, or as soon as 500 are waiting, through the gateway's own Kinesis client
// settings (createKinesisClient); no aggregation. Entries a call failed, or a whole failed call, go
// back to the front of the queue. The envelope is the seed design's; the body is checked to be
// JSON, as the gateway checks it, but not rebuilt.
// GET /pending answers how many records are not yet confirmed, so the harness knows when all are.

import { PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import Fastify from 'fastify';
import { randomUUID } from 'node:crypto';
import { createKinesisClient } from '../src/kinesis-client';

const [endpoint, stream] = process.argv.slice(2);
const MAX_RECORDS = 500;
const FLUSH_MS = 100;

const client = createKinesisClient({ endpoint });
let waiting: PutRecordsRequestEntry[] = [];
let inFlight = 0;

/** Sends what is waiting in calls of 500; a part batch only when the timer says so. */
function flush(partial: boolean): void {
  while (waiting.length >= MAX_RECORDS || (partial && waiting.length > 0)) {
    const entries = waiting.slice(0, MAX_RECORDS);
    waiting = waiting.slice(entries.length);
    inFlight += entries.length;
    client
      .send(new PutRecordsCommand({ StreamName: stream, Records: entries }))
      .then(
        (out) => {
          if (out.FailedRecordCount) waiting.unshift(...entries.filter((_, i) => out.Records?.[i]?.ErrorCode));
        },
        () => waiting.unshift(...entries),
      )
      .finally(() => (inFlight -= entries.length));
  }
}
setInterval(() => flush(true), FLUSH_MS);

const app = Fastify({ logger: false, keepAliveTimeout: 65_000 });
app.removeContentTypeParser('application/json');
app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
  try {
    JSON.parse(body as string);
    done(null, body);
  } catch (err) {
    (err as Error & { statusCode?: number }).statusCode = 400;
    done(err as Error, undefined);
  }
});
app.post('/v1/events', (req, reply) => {
  const id = randomUUID();
  const envelope = `{"id":"${id}","receivedAt":${Date.now()},"ip":"${req.ip}","ua":${JSON.stringify(req.headers['user-agent'] ?? '')},"path":"/v1/events","event":${req.body as string}}`;
  waiting.push({ PartitionKey: id, Data: Buffer.from(envelope) });
  if (waiting.length >= MAX_RECORDS) flush(false);
  reply.code(202).type('application/json').send('{"accepted":1}');
});
app.get('/pending', (_req, reply) => {
  reply.send({ pending: waiting.length + inFlight });
});
app.listen({ host: '127.0.0.1', port: 0 }).then(() => {
  const address = app.server.address();
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});
