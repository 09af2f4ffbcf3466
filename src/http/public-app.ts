// The public listener: event ingest and health. It answers from what is in memory: it never waits
// on Kinesis, the disk or another thread.

import { RequestError, STATUS_TEXT } from '../errors';
import { EventSpans, scanEvents, type BodyFormat } from '../events/json-scan';
import type { Logger } from '../log';
import type { Answer, Intake } from '../intake/intake';
import type { RequestMeta } from '../events/envelope';
import { clientAddress } from './client-address';
import { forwardedClient } from './client-ip';
import { readHead, type RequestHead } from './request-head';
import { pixelEvent, sendPixel } from './pixel';
import { addHealthRoutes } from './health-routes';
import { AnswerWhenReady, postEvents, type EventPostParts, type EventRoute, type RequestFacts } from './event-post';
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

/** A pixel request: its one event, and the image as its answer whatever became of the event. */
class PixelRequest extends AnswerWhenReady implements RequestMeta {
  readonly receivedAt = Date.now();
  readonly ip: string;
  readonly userAgent: string;
  readonly path = PIXEL_PATH;

  constructor(
    res: HttpResponse,
    private readonly metrics: RequestMetrics,
    facts: RequestFacts,
  ) {
    super(res);
    this.ip = facts.storedIp;
    this.userAgent = facts.userAgent;
  }

  takeEvent(intake: Intake, event: Uint8Array, spans: EventSpans): void {
    spans.clear();
    spans.add(0, event.length);
    this.take(intake, event, spans, this, false);
  }

  protected send(answer: Answer): void {
    if (answer.status === 503) this.metrics.reject(answer.error.code);
    this.answerImage();
  }

  answerImage(): void {
    this.metrics.answer(PIXEL_PATH, 200);
    sendPixel(this.res);
  }
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

  const parts: EventPostParts = { intake, readiness, admission, metrics, log, limits: options, factsOf, admit, refuse };
  const eventsRoute: EventRoute = {
    path: EVENTS_PATH,
    format: bodyFormat,
    mediaTypes: 'application/json, application/x-ndjson or text/plain',
    keyInBody: false,
    waitsForStream: (head) => (head.ack !== '' && head.ack.toLowerCase() === 'stream') || (head.query !== '' && ACK_STREAM_QUERY.test(head.query)),
    read(body, format, maxDepth) {
      scanEvents(body, format, maxDepth, spans);
      return { body, spans, writeKey: '' };
    },
    answer(res, answer, corsOrigin) {
      sendAccepted(res, answer.status, answer.accepted, corsOrigin);
      return answer.status;
    },
  };
  app.post(EVENTS_PATH, (res, _req, head) => postEvents(parts, eventsRoute, res, head));

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
    const pixel = new PixelRequest(res, metrics, facts);
    try {
      const refusal = admit(head, facts);
      if (refusal) throw refusal;
      pixel.takeEvent(intake, pixelEvent(head.query), spans);
    } catch (err) {
      if (!(err instanceof RequestError)) log.error({ err }, 'unexpected error while taking a pixel event');
      metrics.reject(err instanceof RequestError ? err.code : 'internal');
      pixel.answerImage();
    }
  });

  app.any(EVENTS_PATH, (res, req) =>
    refuse(res, RequestError.methodNotAllowed(req.getMethod().toUpperCase(), EVENTS_PATH, 'POST, OPTIONS'), performance.now(), undefined),
  );
  addSegmentRoutes({ app, options, parts, preflight, bodyFormat });
  addHealthRoutes(app, readiness, metrics);
  app.any('/*', (res, req) => {
    metrics.answer('other', 404);
    sendError(res, new RequestError('not_found', `no route ${req.getMethod().toUpperCase()} ${req.getUrl()}`));
  });
  return uwsApp;
}
