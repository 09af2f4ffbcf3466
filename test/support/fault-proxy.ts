// A fault-injecting HTTP proxy between the shipper and a local Kinesis. A failed PutRecords entry is
// answered as failed and not forwarded, as real Kinesis does, so a producer that resends exactly its
// failed entries ends up with every event on the stream once, and one that resends too much shows
// duplicates.

import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Faults {
  /** Share of PutRecords entries to fail, 0..1. */
  failEntries: number;
  /** Error codes to fail entries with, picked in turn. */
  entryErrorCodes: string[];
  /** Share of PutRecords calls to fail whole, 0..1, spread evenly from the first call on, with this HTTP status (500 by default). */
  failRequests: number;
  failStatus?: 500 | 503;
  /** Delay added before answering PutRecords. */
  latencyMs?: number;
  /** Share of PutRecords calls whose connection is reset before any answer, 0..1, spread evenly from the first call on. */
  resetShare?: number;
  /** Share of PutRecords calls forwarded to Kinesis whose answer is then lost (connection reset), spread evenly from the first: duplicates follow. */
  loseAnswerShare?: number;
  /** Until this time (Date.now()), every connection is reset: Kinesis is down. */
  downUntil?: number;
  /** The next this many GetRecords calls are answered ExpiredIteratorException. */
  expireGetRecords?: number;
}

export interface FaultProxy {
  readonly endpoint: string;
  readonly faults: Faults;
  readonly counts: { putRecordsCalls: number; entriesFailed: number; requestsFailed: number; resets: number; byOperation: Map<string, number> };
  close(): Promise<void>;
}

interface PutRecordsBody {
  StreamName: string;
  Records: unknown[];
}

interface PutRecordsAnswer {
  FailedRecordCount?: number;
  Records: Record<string, unknown>[];
}

function seeded(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
}

function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function forward(target: URL, req: http.IncomingMessage, body: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const headers = { ...req.headers, host: target.host, 'content-length': String(body.length) };
  return new Promise((resolve, reject) => {
    const out = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers }, async (res) => {
      resolve({ status: res.statusCode!, headers: res.headers, body: await readAll(res) });
    });
    out.on('error', reject);
    out.end(body);
  });
}

function answer(res: http.ServerResponse, status: number, body: Buffer | string, type = 'application/x-amz-json-1.1'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * Whether the index-th call (from 0) is one of a share of calls spread evenly, the first included:
 * a test then sees its fault however few calls a fast gateway makes (a random draw over the 9 calls
 * of a quick run missed a 30% fault 4% of the time).
 */
function spreadEvenly(share: number, index: number): boolean {
  return Math.ceil((index + 1) * share) > Math.ceil(index * share);
}

export async function startFaultProxy(targetEndpoint: string, faults: Faults, seed = 7): Promise<FaultProxy> {
  const target = new URL(targetEndpoint);
  const random = seeded(seed);
  const counts = { putRecordsCalls: 0, entriesFailed: 0, requestsFailed: 0, resets: 0, byOperation: new Map<string, number>() };
  let nextCode = 0;
  let forwardedCalls = 0;
  const server = http.createServer(async (req, res) => {
    try {
      if (faults.downUntil && Date.now() < faults.downUntil) {
        counts.resets++;
        return req.socket.destroy();
      }
      const body = await readAll(req);
      const operation = String(req.headers['x-amz-target']).replace(/^Kinesis_20131202\./, '');
      counts.byOperation.set(operation, (counts.byOperation.get(operation) ?? 0) + 1);
      if (operation === 'GetRecords' && (faults.expireGetRecords ?? 0) > 0) {
        faults.expireGetRecords!--;
        return answer(res, 400, JSON.stringify({ __type: 'ExpiredIteratorException', message: 'Iterator expired (injected by the fault proxy)' }));
      }
      if (operation !== 'PutRecords') {
        const passed = await forward(target, req, body);
        return answer(res, passed.status, passed.body, String(passed.headers['content-type']));
      }
      counts.putRecordsCalls++;
      if (faults.latencyMs) await new Promise((resolve) => setTimeout(resolve, faults.latencyMs));
      if (spreadEvenly(faults.resetShare ?? 0, counts.putRecordsCalls - 1)) {
        counts.resets++;
        return req.socket.destroy();
      }
      if (spreadEvenly(faults.failRequests, counts.putRecordsCalls - 1)) {
        counts.requestsFailed++;
        const status = faults.failStatus ?? 500;
        return answer(
          res,
          status,
          JSON.stringify({ __type: status === 503 ? 'ServiceUnavailable' : 'InternalFailure', message: 'injected by the fault proxy' }),
        );
      }
      const request = JSON.parse(body.toString()) as PutRecordsBody;
      const failing = request.Records.map(() => random() < faults.failEntries);
      const kept = request.Records.filter((_, i) => !failing[i]);
      let forwarded: PutRecordsAnswer = { FailedRecordCount: 0, Records: [] };
      if (kept.length > 0) {
        const passed = await forward(target, req, Buffer.from(JSON.stringify({ ...request, Records: kept })));
        if (passed.status !== 200) return answer(res, passed.status, passed.body);
        forwarded = JSON.parse(passed.body.toString());
        if (spreadEvenly(faults.loseAnswerShare ?? 0, forwardedCalls++)) {
          counts.resets++;
          return req.socket.destroy();
        }
      }
      let k = 0;
      const merged = failing.map((fails) => {
        if (!fails) return forwarded.Records[k++];
        counts.entriesFailed++;
        const code = faults.entryErrorCodes[nextCode++ % faults.entryErrorCodes.length];
        return { ErrorCode: code, ErrorMessage: 'injected by the fault proxy' };
      });
      const failed = merged.filter((r) => r.ErrorCode).length;
      answer(res, 200, JSON.stringify({ FailedRecordCount: failed, Records: merged }));
    } catch (err) {
      answer(res, 502, JSON.stringify({ __type: 'ProxyError', message: (err as Error).message }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    faults,
    counts,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
