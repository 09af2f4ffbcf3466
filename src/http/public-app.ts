// The public listener: event ingest and health. It answers from what is in memory: it never waits
// on Kinesis, the disk or another thread.

import { RequestError } from '../errors';
import { writeEvents } from '../events/envelope';
import { EventSpans, scanEvents, type BodyFormat } from '../events/json-scan';
import type { PartitionKeyRule } from '../events/partition-key';
import type { Logger } from '../log';
import type { RingWriter } from '../ring/ring-writer';
import { clientAddress } from './client-address';
import { clientIp } from './client-ip';
import { bodyEncoding, inflateBody } from './inflate';
import { pixelEvent, sendPixel } from './pixel';
import { addHealthRoutes } from './health-routes';
import { readBody } from './read-body';
import type { Readiness } from './readiness';
import type { RequestMetrics } from './request-metrics';
import { sendError, sendJson } from './responses';
import { uws, type HttpResponse, type TemplatedApp } from './uws';

export interface PublicAppOptions {
  readonly maxBodyBytes: number;
  readonly maxInflatedBytes: number;
  readonly maxInflateRatio: number;
  readonly trustProxyHops: number;
  readonly maxEventDepth: number;
  readonly partitionKey: PartitionKeyRule;
  readonly ring: RingWriter;
  readonly readiness: Readiness;
  readonly metrics: RequestMetrics;
  readonly log: Logger;
}

const EVENTS_PATH = '/v1/events';
const PIXEL_PATH = '/v1/pixel.gif';

/** navigator.sendBeacon with a string sends text/plain, and a body without a type is most likely JSON too. */
export function bodyFormat(contentType: string): BodyFormat | undefined {
  const mediaType = contentType.split(';', 1)[0].trim().toLowerCase();
  switch (mediaType) {
    case 'application/json':
      return 'json';
    case 'application/x-ndjson':
    case 'application/ndjson':
    case 'application/jsonl':
    case 'application/x-jsonlines':
      return 'ndjson';
    case 'text/plain':
    case '':
      return 'auto';
    default:
      return undefined;
  }
}

export function createPublicApp(options: PublicAppOptions): TemplatedApp {
  const { ring, readiness, metrics, log } = options;
  const spans = new EventSpans();
  const app = uws.App();

  function refuse(res: HttpResponse, error: RequestError, startedMs: number, closeConnection = false): void {
    metrics.reject(error.code);
    metrics.answerEvents(error.status, startedMs);
    sendError(res, error, closeConnection);
  }

  app.post(EVENTS_PATH, (res, req) => {
    const started = performance.now();
    // HttpRequest is valid only in this synchronous part: read everything needed now.
    const contentType = req.getHeader('content-type');
    const contentEncoding = req.getHeader('content-encoding');
    const declaredLength = Number(req.getHeader('content-length') || 0);
    const userAgent = req.getHeader('user-agent');
    const ip = clientIp(clientAddress(res), req.getHeader('x-forwarded-for'), options.trustProxyHops);
    // A refusal before the body is read closes the connection: its unread body must not be
    // mistaken for the next request.
    if (!readiness.acceptingEvents) {
      const error = readiness.phase === 'starting'
        ? new RequestError('not_ready', 'the gateway is starting; retry shortly')
        : new RequestError('draining', 'the gateway is shutting down; retry on another instance');
      return refuse(res, error, started, true);
    }
    const format = bodyFormat(contentType);
    if (format === undefined) {
      return refuse(res, new RequestError('unsupported_media_type', `Content-Type ${contentType} is not accepted; send application/json, application/x-ndjson or text/plain`), started, true);
    }
    const encoding = bodyEncoding(contentEncoding);
    if (encoding === undefined) {
      return refuse(res, new RequestError('unsupported_media_type', `Content-Encoding ${contentEncoding} is not accepted; send gzip, deflate or identity`), started, true);
    }
    if (declaredLength > options.maxBodyBytes) {
      return refuse(res, new RequestError('body_too_large', `the body has ${declaredLength} bytes, more than the limit of ${options.maxBodyBytes}`), started, true);
    }
    readBody(res, declaredLength, options.maxBodyBytes, {
      onTooLarge() {
        res.cork(() => refuse(res, new RequestError('body_too_large', `the body is larger than the limit of ${options.maxBodyBytes} bytes`), started, true));
      },
      onBody(body) {
        res.cork(() => {
          if (!readiness.acceptingEvents) return refuse(res, new RequestError('draining', 'the gateway is shutting down; retry on another instance'), started);
          try {
            // Inflating is CPU work on the main thread: bounded by the size and ratio limits.
            if (encoding !== 'identity') body = inflateBody(body, encoding, options.maxInflatedBytes, options.maxInflateRatio);
            scanEvents(body, format, options.maxEventDepth, spans);
            const { accepted, keyFallbacks } = writeEvents(body, spans, { receivedAt: Date.now(), ip, userAgent, path: EVENTS_PATH }, ring, options.partitionKey);
            metrics.eventsAccepted.inc(accepted);
            if (keyFallbacks > 0) metrics.partitionKeyFallbacks.inc(keyFallbacks);
            metrics.answerEvents(202, started);
            sendJson(res, 202, `{"accepted":${accepted}}`);
          } catch (err) {
            if (err instanceof RequestError) return refuse(res, err, started);
            log.error({ err }, 'unexpected error while taking events');
            refuse(res, new RequestError('internal', 'unexpected error; the events were not accepted'), started);
          }
        });
      },
    });
  });

  app.get(PIXEL_PATH, (res, req) => {
    const meta = { receivedAt: Date.now(), ip: clientIp(clientAddress(res), req.getHeader('x-forwarded-for'), options.trustProxyHops), userAgent: req.getHeader('user-agent'), path: PIXEL_PATH };
    try {
      if (!readiness.acceptingEvents) throw new RequestError(readiness.phase === 'starting' ? 'not_ready' : 'draining', `the gateway is ${readiness.phase}`);
      const event = pixelEvent(req.getQuery() ?? '');
      spans.clear();
      spans.starts.push(0);
      spans.ends.push(event.length);
      const { accepted, keyFallbacks } = writeEvents(event, spans, meta, ring, options.partitionKey);
      metrics.eventsAccepted.inc(accepted);
      if (keyFallbacks > 0) metrics.partitionKeyFallbacks.inc(keyFallbacks);
    } catch (err) {
      // A pixel always answers with the image: a broken image icon on the page helps no one.
      if (!(err instanceof RequestError)) log.error({ err }, 'unexpected error while taking a pixel event');
      metrics.reject(err instanceof RequestError ? err.code : 'internal');
    }
    metrics.answer(PIXEL_PATH, 200);
    sendPixel(res);
  });

  app.any(EVENTS_PATH, (res, req) => refuse(res, RequestError.methodNotAllowed(req.getMethod().toUpperCase(), EVENTS_PATH, 'POST'), performance.now()));
  addHealthRoutes(app, readiness, metrics);
  app.any('/*', (res, req) => {
    metrics.answer('other', 404);
    sendError(res, new RequestError('not_found', `no route ${req.getMethod().toUpperCase()} ${req.getUrl()}`));
  });
  return app;
}
