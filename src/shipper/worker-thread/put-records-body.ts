// Runs in a shipper worker thread (and on the main thread of `replay`, which ships without a pool).
//
// The JSON body of one PutRecords call, written straight into one Buffer of its exact size.
//
// The SDK's serializer writes the body into a buffer that starts at 2 KiB and doubles as it fills:
// for a 4 MiB task (a 5.4 MiB base64 body) it allocates 2 KiB + 4 KiB + … + 8 MiB (16 MiB) and sends
// a view into the last one. Those are ArrayBuffers outside the V8 heap, freed only when a GC finds
// them dead; at the shards' rate during a catch-up they held tens of MiB per worker. Here the size
// is counted first and the body allocated once, so a call costs its body's bytes and no more.

import { PutRecordsCommand, type PutRecordsCommandInput } from '@aws-sdk/client-kinesis';

export interface BodyRecord {
  readonly data: Uint8Array;
  readonly partitionKey: string;
  readonly explicitHashKey?: string;
}

// Members in the order the SDK writes them (alphabetical), so that the body is byte for byte the SDK's.
const OPEN = '{"Records":[';
const DATA = '{"Data":"';
const EXPLICIT_HASH_KEY = '","ExplicitHashKey":';
const PARTITION_KEY_AFTER_DATA = '","PartitionKey":';
const PARTITION_KEY_AFTER_HASH_KEY = ',"PartitionKey":';
const STREAM_NAME = '],"StreamName":';
const CLOSE = '}';

function base64Length(bytes: number): number {
  return Math.ceil(bytes / 3) * 4;
}

/** The request body the SDK would send for these records (same members, same JSON values), in one exact Buffer. */
export function encodePutRecordsBody(stream: string, records: readonly BodyRecord[]): Buffer {
  // Keys and stream names are short: JSON.stringify escapes them exactly as JSON requires.
  const streamJson = JSON.stringify(stream);
  const keys = records.map((r) => JSON.stringify(r.partitionKey));
  const hashKeys = records.map((r) => (r.explicitHashKey === undefined ? undefined : JSON.stringify(r.explicitHashKey)));
  let size = OPEN.length + STREAM_NAME.length + Buffer.byteLength(streamJson) + CLOSE.length + Math.max(0, records.length - 1);
  for (let i = 0; i < records.length; i++) {
    size += DATA.length + base64Length(records[i].data.length) + Buffer.byteLength(keys[i]) + CLOSE.length;
    size +=
      hashKeys[i] === undefined
        ? PARTITION_KEY_AFTER_DATA.length
        : EXPLICIT_HASH_KEY.length + Buffer.byteLength(hashKeys[i]!) + PARTITION_KEY_AFTER_HASH_KEY.length;
  }
  const body = Buffer.allocUnsafe(size);
  let at = body.write(OPEN, 0, 'latin1');
  for (let i = 0; i < records.length; i++) {
    const { data } = records[i];
    if (i > 0) body[at++] = 0x2c; // ,
    at += body.write(DATA, at, 'latin1');
    // The base64 text of one record (at most 1 MiB of data) is a short-lived string; the body is written once.
    at += body.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'), at, 'latin1');
    if (hashKeys[i] === undefined) {
      at += body.write(PARTITION_KEY_AFTER_DATA, at, 'latin1');
    } else {
      at += body.write(EXPLICIT_HASH_KEY, at, 'latin1');
      at += body.write(hashKeys[i]!, at, 'utf8');
      at += body.write(PARTITION_KEY_AFTER_HASH_KEY, at, 'latin1');
    }
    at += body.write(keys[i], at, 'utf8');
    body[at++] = 0x7d; // }
  }
  at += body.write(STREAM_NAME, at, 'latin1');
  at += body.write(streamJson, at, 'utf8');
  at += body.write(CLOSE, at, 'latin1');
  if (at !== size) throw new Error(`PutRecords body: wrote ${at} bytes of ${size}`);
  return body;
}

/**
 * A PutRecordsCommand that sends `body` (from encodePutRecordsBody) as it is. The SDK still builds
 * the headers, the endpoint, the signature and parses the answer; only its serialization of the
 * records is skipped: the command's own input carries none.
 */
export function putRecordsCommand(stream: string, body: Buffer): PutRecordsCommand {
  const input: PutRecordsCommandInput = { StreamName: stream, Records: [] };
  const command = new PutRecordsCommand(input);
  command.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { body?: unknown; headers?: Record<string, string> };
      request.body = body;
      if (request.headers) request.headers['content-length'] = String(body.length);
      return next(args);
    },
    // Before the content length is set and long before the request is signed.
    { step: 'build', priority: 'high', name: 'kinesisGatewayPutRecordsBody' },
  );
  return command;
}
