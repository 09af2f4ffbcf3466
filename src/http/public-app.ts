// The public listener: event ingest and health. It answers from what is in memory: it never waits
// on Kinesis, the disk or another thread.

import { RequestError, STATUS_TEXT } from '../errors';
import { EventSpans, scanEvents, type BodyFormat } from '../events/json-scan';
import type { Logger } from '../log';
import type { Answer, Intake } from '../intake/intake';
import { clientAddress } from './client-address';
import { forwardedClient } from './client-ip';
import { readHead, type RequestHead } from './request-head';
import { bodyEncoding, inflateBody } from './inflate';
import { pixelEvent, sendPixel } from './pixel';
import { addHealthRoutes } from './health-routes';
import { readBody } from './read-body';
import type { Readiness } from './readiness';
import type { RequestMetrics, Route } from './request-metrics';
import { sendAccepted, sendError, writeCors } from './responses';
import { uws, type HttpRequest, type HttpResponse, type TemplatedApp } from './uws';
import type { Admission } from './admission';
import { ROUTES } from '../metrics/metric-definitions';
import type { RejectsFile } from '../rejects/rejects-file';
import { storedAddress, type IpPolicy } from './ip-policy';
import { addSegmentRoutes } from './segment-routes';

export interface PublicAppOptions {
  readonly maxBodyBytes: number;
  readonly maxInflatedBytes: number;
  readonly maxInflateRatio: number;
  readonly trustProxyHops: number;
  readonly maxEventDepth: number;
  readonly intake: Intake;
  readonly readiness: Readiness;
  readonly metrics: RequestMetrics;
  readonly admission: Admission;
  readonly maxHeaderBytes: number;
  readonly maxUrlBytes: number;
  readonly bodyTimeoutMs: number;
  readonly log: Logger;
  /** What of the client address events and kept rejects store (default keep). */
  readonly ipPolicy?: IpPolicy;
  /** Where refused requests are kept, when --rejects-file is set. */
  readonly rejects?: RejectsFile;
}

const EVENTS_PATH = '/v1/events';
const PIXEL_PATH = '/v1/pixel.gif';
const ACK_STREAM_QUERY = /(^|&)ack=stream(&|$)/;
const ROUTE_LABELS: ReadonlySet<string> = new Set(ROUTES);

/** navigator.sendBeacon with a string sends text/plain, and a body without a type is most likely JSON too. */
export function bodyFormat(contentType: string): BodyFormat | undefined {
  return mediaTypeFormat(contentType) ?? mediaTypeFormat(contentType.split(';', 1)[0].trim().toLowerCase());
}

/** The format of an exact media type; the type as most clients send it is found without normalising it. */
function mediaTypeFormat(mediaType: string): BodyFormat | undefined {
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

/** What a handler must copy from HttpRequest before returning: it is valid only synchronously. */
export interface RequestFacts {
  /** The client address, for rate limits. */
  readonly ip: string;
  /** The client address as --ip-policy lets it be stored. */
  readonly storedIp: string;
  readonly userAgent: string;
  readonly origin: string;
  readonly corsOrigin: string | undefined;
}

export function createPublicApp(options: PublicAppOptions): TemplatedApp {
  const { intake, readiness, metrics, log, admission } = options;
  const spans = new EventSpans();
  const uwsApp = uws.App();

  type Handler = (res: HttpResponse, req: HttpRequest, head: RequestHead) => void;
  type UwsHandler = (res: HttpResponse, req: HttpRequest) => void;
  const routeOf = (path: string): Route => (ROUTE_LABELS.has(path) ? (path as Route) : 'other');
  /**
   * Every public route: the request head is checked first (its refusal closes the connection, as
   * its framing or size cannot be trusted), and an exception escaping a handler, which would end
   * the process, is answered 500 instead, and logged.
   */
  function guarded(path: string, handler: Handler): UwsHandler {
    const route = routeOf(path);
    const staticPath = /[*:]/.test(path) ? undefined : path;
    return (res, req) => {
      try {
        const head = readHead(req, options, staticPath);
        if (head instanceof RequestError) {
          metrics.reject(head.code);
          metrics.answer(route, head.status);
          return sendError(res, head, { close: true });
        }
        handler(res, req, head);
      } catch (err) {
        log.error({ err }, 'unexpected error in a request handler');
        try {
          sendError(res, new RequestError('internal', 'unexpected error; nothing was accepted'), { close: true });
        } catch {
          // the response was already answered or aborted
        }
      }
    };
  }
  const app = {
    post: (path: string, handler: Handler) => uwsApp.post(path, guarded(path, handler)),
    get: (path: string, handler: Handler) => uwsApp.get(path, guarded(path, handler)),
    options: (path: string, handler: Handler) => uwsApp.options(path, guarded(path, handler)),
    any: (path: string, handler: Handler) => uwsApp.any(path, guarded(path, handler)),
  };

  const ipPolicy = options.ipPolicy ?? 'keep';
  function factsOf(head: RequestHead, res: HttpResponse): RequestFacts {
    const ip = forwardedClient(head.forwardedFor, options.trustProxyHops) ?? clientAddress(res);
    return {
      ip,
      storedIp: ipPolicy === 'keep' ? ip : storedAddress(ip, ipPolicy),
      userAgent: head.userAgent,
      origin: head.origin,
      corsOrigin: admission.allowOrigin(head.origin),
    };
  }

  /**
   * The checks every event request passes before its body is looked at, cheapest first. `checkKey`
   * false: the write key may still come in the body (Segment), and is checked there.
   */
  function admit(head: RequestHead, facts: RequestFacts, checkKey = true): RequestError | undefined {
    if (!readiness.acceptingEvents) {
      return readiness.phase === 'starting'
        ? new RequestError('not_ready', 'the gateway is starting; retry shortly')
        : new RequestError('draining', 'the gateway is shutting down; retry on another instance');
    }
    const originRefusal = admission.checkOrigin(facts.origin);
    if (originRefusal) {
      metrics.corsRefused.inc();
      return originRefusal;
    }
    return (
      (admission.rateLimited ? admission.checkRate(facts.ip, Date.now()) : undefined) ??
      (checkKey && admission.writeKeysConfigured ? admission.checkWriteKey(head.authorization, head.query) : undefined)
    );
  }

  /**
   * Takes a request's events (throws a RequestError when refused) and calls `answer` when the client
   * may be told: at once, or later (after the spool commit, or Kinesis for a stream ack), then
   * corked and only if the client is still there. Only a deferred answer needs to hear of an abort:
   * its handler replaces any the request had (the body is read by then).
   */
  function take(
    res: HttpResponse,
    body: Uint8Array,
    found: EventSpans,
    path: string,
    facts: RequestFacts,
    waitForStream: boolean,
    answer: (answer: Answer) => void,
  ): void {
    let deferred = false;
    let answered = false;
    let aborted = false;
    intake.take(body, found, { receivedAt: Date.now(), ip: facts.storedIp, userAgent: facts.userAgent, path }, waitForStream, (result) => {
      answered = true;
      if (!deferred) answer(result);
      else if (!aborted) res.cork(() => answer(result));
    });
    if (answered) return;
    deferred = true;
    res.onAborted(() => (aborted = true));
  }

  /** Answers a refused event request; keeps it in --rejects-file when its reason is worth keeping. */
  function refuse(
    res: HttpResponse,
    error: RequestError,
    startedMs: number,
    facts: RequestFacts | undefined,
    close = false,
    route: Route = EVENTS_PATH,
    body?: Uint8Array,
  ): void {
    metrics.reject(error.code);
    metrics.answerTimed(route, error.status, startedMs);
    if (options.rejects && facts) {
      options.rejects.keep({ reason: error.code, message: error.message, route, ip: facts.storedIp, userAgent: facts.userAgent, body }, Date.now());
    }
    sendError(res, error, { close, corsOrigin: facts?.corsOrigin });
  }

  app.post(EVENTS_PATH, (res, _req, head) => {
    const started = performance.now();
    const facts = factsOf(head, res);
    const { contentType, contentEncoding, contentLength: lengthHeader } = head;
    const declaredLength = Number(lengthHeader || 0);
    const waitForStream = (head.ack !== '' && head.ack.toLowerCase() === 'stream') || (head.query !== '' && ACK_STREAM_QUERY.test(head.query));
    // A refusal before the body is read closes the connection: its unread body must not be
    // mistaken for the next request.
    const refusal = admit(head, facts);
    if (refusal) return refuse(res, refusal, started, facts, true);
    if (lengthHeader === '' && head.transferEncoding.toLowerCase() !== 'chunked') {
      return refuse(res, new RequestError('length_required', 'send Content-Length (or a chunked body)'), started, facts, true);
    }
    const format = bodyFormat(contentType);
    if (format === undefined) {
      return refuse(
        res,
        new RequestError('unsupported_media_type', `Content-Type ${contentType} is not accepted; send application/json, application/x-ndjson or text/plain`),
        started,
        facts,
        true,
      );
    }
    const encoding = bodyEncoding(contentEncoding);
    if (encoding === undefined) {
      return refuse(
        res,
        new RequestError('unsupported_media_type', `Content-Encoding ${contentEncoding} is not accepted; send gzip, deflate or identity`),
        started,
        facts,
        true,
      );
    }
    if (declaredLength > options.maxBodyBytes) {
      return refuse(
        res,
        new RequestError('body_too_large', `the body has ${declaredLength} bytes, more than the limit of ${options.maxBodyBytes}`),
        started,
        facts,
        true,
      );
    }
    readBody(res, declaredLength, options.maxBodyBytes, options.bodyTimeoutMs, (body) => {
      if (body === 'timeout') {
        return res.cork(() =>
          refuse(res, new RequestError('body_timeout', `the body did not arrive whole within ${options.bodyTimeoutMs} ms`), started, facts, true),
        );
      }
      // The rest runs inside uWS's data callback, where writes are corked already.
      if (body === 'too_large') {
        return refuse(res, new RequestError('body_too_large', `the body is larger than the limit of ${options.maxBodyBytes} bytes`), started, facts, true);
      }
      if (!readiness.acceptingEvents)
        return refuse(res, new RequestError('draining', 'the gateway is shutting down; retry on another instance'), started, facts);
      const received = body;
      try {
        // Inflating is CPU work on the main thread: bounded by the size and ratio limits.
        if (encoding !== 'identity') body = inflateBody(body, encoding, options.maxInflatedBytes, options.maxInflateRatio);
        scanEvents(body, format, options.maxEventDepth, spans);
        take(res, body, spans, EVENTS_PATH, facts, waitForStream, (answer) => {
          if (answer.status === 503) return refuse(res, answer.error, started, facts);
          metrics.answerEvents(answer.status, started);
          sendAccepted(res, answer.status, answer.accepted, facts.corsOrigin);
        });
      } catch (err) {
        if (err instanceof RequestError) return refuse(res, err, started, facts, false, EVENTS_PATH, received);
        log.error({ err }, 'unexpected error while taking events');
        refuse(res, new RequestError('internal', 'unexpected error; the events were not accepted'), started, facts, false, EVENTS_PATH, received);
      }
    });
  });

  function preflight(res: HttpResponse, head: RequestHead, route: Route): void {
    const facts = factsOf(head, res);
    if (facts.origin && !facts.corsOrigin && admission.corsConfigured) metrics.corsRefused.inc();
    metrics.answer(route, 204);
    res.writeStatus(STATUS_TEXT[204]);
    // A disallowed origin gets no CORS headers: the browser then blocks the request itself.
    if (facts.corsOrigin) {
      writeCors(res, facts.corsOrigin);
      res.writeHeader('Access-Control-Allow-Methods', 'POST, GET, OPTIONS');
      res.writeHeader('Access-Control-Allow-Headers', 'Content-Type, Content-Encoding, Authorization, X-Ack');
      res.writeHeader('Access-Control-Max-Age', '86400');
    }
    res.endWithoutBody();
  }
  app.options(EVENTS_PATH, (res, _req, head) => preflight(res, head, EVENTS_PATH));

  // A pixel always answers with the image, even when its event is refused: a broken image icon on
  // the page helps no one. The refusal is counted.
  app.get(PIXEL_PATH, (res, _req, head) => {
    const facts = factsOf(head, res);
    const query = head.query;
    const refusal = admit(head, facts);
    const answerPixel = (answer?: Answer) => {
      if (answer?.status === 503) metrics.reject(answer.error.code);
      metrics.answer(PIXEL_PATH, 200);
      sendPixel(res);
    };
    try {
      if (refusal) throw refusal;
      const event = pixelEvent(query);
      spans.clear();
      spans.add(0, event.length);
      take(res, event, spans, PIXEL_PATH, facts, false, answerPixel);
    } catch (err) {
      if (!(err instanceof RequestError)) log.error({ err }, 'unexpected error while taking a pixel event');
      metrics.reject(err instanceof RequestError ? err.code : 'internal');
      answerPixel();
    }
  });

  app.any(EVENTS_PATH, (res, req) =>
    refuse(res, RequestError.methodNotAllowed(req.getMethod().toUpperCase(), EVENTS_PATH, 'POST, OPTIONS'), performance.now(), undefined),
  );
  addSegmentRoutes({ app, options, factsOf, admit, take, refuse, preflight, bodyFormat });
  addHealthRoutes(app, readiness, metrics);
  app.any('/*', (res, req) => {
    metrics.answer('other', 404);
    sendError(res, new RequestError('not_found', `no route ${req.getMethod().toUpperCase()} ${req.getUrl()}`));
  });
  return uwsApp;
}
