// The Segment HTTP spec on the public port, so analytics.js / analytics-next / analytics-node point at
// the gateway unchanged: POST /v1/{track,page,identify,screen,group,alias,batch} and the short forms
// analytics-next uses, /v1/{t,p,i,s,g,a,b}; and GET /v1/projects/{writeKey}/settings, the CDN
// settings analytics-next loads at start, pointing its Segment.io destination back here. The calls
// take the /v1/events path from admission to the ring; only their reading (src/events/segment.ts)
// and their answer, 200 {"success":true}, are Segment's.

import { RequestError, STATUS_TEXT } from '../errors';
import type { BodyFormat } from '../events/json-scan';
import { SegmentReader, type SegmentType } from '../events/segment';
import { postEvents, type EventPostParts, type EventRoute, type RequestFacts } from './event-post';
import type { PublicAppOptions } from './public-app';
import type { RequestHead } from './request-head';
import type { Route } from './request-metrics';
import { sendError, writeCors } from './responses';
import type { HttpRequest, HttpResponse } from './uws';

type Handler = (res: HttpResponse, req: HttpRequest, head: RequestHead) => void;
type Register = (path: string, handler: Handler) => unknown;

/** What the public app lends its Segment routes: the same event POST as /v1/events, its preflight and its body formats. */
export interface SegmentRouteKit {
  readonly app: { readonly post: Register; readonly get: Register; readonly options: Register; readonly any: Register };
  readonly options: PublicAppOptions;
  readonly parts: EventPostParts;
  preflight(res: HttpResponse, head: RequestHead, route: Route): void;
  bodyFormat(contentType: string): BodyFormat | undefined;
}

const CALLS: readonly (readonly [Route, Route, SegmentType | 'batch'])[] = [
  ['/v1/track', '/v1/t', 'track'],
  ['/v1/page', '/v1/p', 'page'],
  ['/v1/identify', '/v1/i', 'identify'],
  ['/v1/screen', '/v1/s', 'screen'],
  ['/v1/group', '/v1/g', 'group'],
  ['/v1/alias', '/v1/a', 'alias'],
  ['/v1/batch', '/v1/b', 'batch'],
];
const SETTINGS_ROUTE = '/v1/projects/*';
const SETTINGS_PATH = /^\/v1\/projects\/([^/]+)\/settings$/;
const SUCCESS = Buffer.from('{"success":true}');
const STATUS_200 = Buffer.from(STATUS_TEXT[200]);

/** A key that is not valid percent-encoding is checked as sent (and is then unknown), not an error of the gateway's. */
function decodedOrAsSent(component: string): string {
  try {
    return decodeURIComponent(component);
  } catch {
    return component;
  }
}

function sendSuccess(res: HttpResponse, corsOrigin: string | undefined): void {
  res.writeStatus(STATUS_200);
  res.writeHeader('Content-Type', 'application/json');
  writeCors(res, corsOrigin);
  res.end(SUCCESS);
}

/**
 * What analytics-next needs to start: its Segment.io destination sending here, no other
 * destinations, no remote plugins or middleware, and no metrics sent to Segment.
 */
export function segmentSettings(writeKey: string, apiHost: string, protocol: string): string {
  return JSON.stringify({
    integrations: { 'Segment.io': { apiKey: writeKey, apiHost, protocol, unbundledIntegrations: [], addBundledMetadata: false } },
    plan: { track: { __default: { enabled: true, integrations: {} } }, identify: { __default: { enabled: true } }, group: { __default: { enabled: true } } },
    edgeFunction: {},
    analyticsNextEnabled: true,
    middlewareSettings: {},
    enabledMiddleware: {},
    metrics: { sampleRate: 0 },
    legacyVideoPluginsEnabled: false,
    remotePlugins: [],
  });
}

export function addSegmentRoutes(kit: SegmentRouteKit): void {
  const { app, options, parts } = kit;
  const { metrics, admission } = options;
  const reader = new SegmentReader();
  // analytics-next sends text/plain (no preflight); a batch of lines is not Segment's.
  const format = (contentType: string): BodyFormat | undefined => {
    const found = kit.bodyFormat(contentType);
    return found === 'ndjson' ? undefined : found;
  };

  function addCall(path: Route, type: SegmentType | 'batch'): void {
    const route: EventRoute = {
      path,
      format,
      mediaTypes: 'application/json or text/plain',
      keyInBody: true,
      waitsForStream: () => false,
      read(body, _format, maxDepth) {
        reader.read(body, type, maxDepth);
        return reader;
      },
      answer(res, _answer, corsOrigin) {
        sendSuccess(res, corsOrigin);
        return 200;
      },
    };
    app.post(path, (res, _req, head) => postEvents(parts, route, res, head));
    app.options(path, (res, _req, head) => kit.preflight(res, head, path));
    app.any(path, (res, req) => {
      metrics.reject('method_not_allowed');
      metrics.answer(path, 405);
      sendError(res, RequestError.methodNotAllowed(req.getMethod().toUpperCase(), path, 'POST, OPTIONS'));
    });
  }
  for (const [long, short, type] of CALLS) {
    addCall(long, type);
    addCall(short, type);
  }

  app.get(SETTINGS_ROUTE, (res, req, head) => {
    const facts: RequestFacts = parts.factsOf(head, res);
    const match = SETTINGS_PATH.exec(req.getUrl());
    if (!match) {
      metrics.answer(SETTINGS_ROUTE, 404);
      return sendError(res, new RequestError('not_found', `no route GET ${req.getUrl()}`), { corsOrigin: facts.corsOrigin });
    }
    const writeKey = decodedOrAsSent(match[1]);
    // Behind a proxy that terminates TLS, the scheme the browser used is the proxy's to say.
    const forwardedProto = options.trustProxyHops > 0 ? req.getHeader('x-forwarded-proto').split(',', 1)[0].trim() : '';
    const protocol = forwardedProto === 'https' ? 'https' : 'http';
    const host = req.getHeader('host');
    const refusal = admission.checkOrigin(facts.origin) ?? admission.checkKey(writeKey);
    if (refusal) {
      metrics.reject(refusal.code);
      metrics.answer(SETTINGS_ROUTE, refusal.status);
      return sendError(res, refusal, { corsOrigin: facts.corsOrigin });
    }
    metrics.answer(SETTINGS_ROUTE, 200);
    res.writeStatus(STATUS_200);
    res.writeHeader('Content-Type', 'application/json');
    res.writeHeader('Cache-Control', 'public, max-age=300');
    writeCors(res, facts.corsOrigin);
    res.end(segmentSettings(writeKey, `${host}/v1`, protocol));
  });
}
