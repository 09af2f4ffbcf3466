// A request's head, read in one pass: the headers the routes use, and the checks every public
// route makes before anything else. Neither uWS build enforces those checks the way a front door
// must (measured): both take a request with two different Content-Length values, framing its body
// by the first (RFC 9112 §6.3 makes that an unrecoverable error: a request-smuggling vector behind a
// proxy that frames by the other), and the legacy build takes any request target, where the official
// one answers a bare 431 past its own head limit. So the gateway answers them itself, the same JSON on
// either build, and closes the connection.
//
// The pass over the headers is needed for those checks anyway; taking the other headers in it costs
// less than asking uWS for each by name.

import { RequestError } from '../errors';
import { NATIVE_UWS, type HttpRequest } from './uws';
import { nodeRequest } from './request-info';

export interface HeadLimits {
  readonly maxUrlBytes: number;
  readonly maxHeaderBytes: number;
}

/** The headers the routes read (the first of each name, '' when absent), and the query. */
export interface RequestHead {
  contentType: string;
  contentLength: string;
  contentEncoding: string;
  transferEncoding: string;
  userAgent: string;
  origin: string;
  forwardedFor: string;
  ack: string;
  authorization: string;
  /** The raw query string, without the '?'. */
  query: string;
}

// The main thread reads one request head at a time: one object serves them all, valid (like
// HttpRequest) only during the synchronous part of the handler.
const head: RequestHead = {
  contentType: '',
  contentLength: '',
  contentEncoding: '',
  transferEncoding: '',
  userAgent: '',
  origin: '',
  forwardedFor: '',
  ack: '',
  authorization: '',
  query: '',
};
let headerBytes = 0;
let lengthsDiffer = false;
/** Headers seen so far, one bit each: later ones of a name are ignored, as getHeader ignores them. */
let seen = 0;

/** Whether this is the first header of its name (`bit`). */
function first(bit: number): boolean {
  if ((seen & bit) !== 0) return false;
  seen |= bit;
  return true;
}

// A switch, not a map: header names come from uWS as new strings, which a map would hash first.
// The names the routes read differ in length, so the length picks the one name to compare.
function takeHeader(name: string, value: string): void {
  headerBytes += name.length + value.length + 4;
  switch (name.length) {
    case 14:
      if (name !== 'content-length') return;
      if (first(1 << 0)) head.contentLength = value;
      else if (value !== head.contentLength) lengthsDiffer = true;
      return;
    case 12:
      if (name === 'content-type' && first(1 << 1)) head.contentType = value;
      return;
    case 16:
      if (name === 'content-encoding' && first(1 << 2)) head.contentEncoding = value;
      return;
    case 17:
      if (name === 'transfer-encoding' && first(1 << 3)) head.transferEncoding = value;
      return;
    case 10:
      if (name === 'user-agent' && first(1 << 4)) head.userAgent = value;
      return;
    case 6:
      if (name === 'origin' && first(1 << 5)) head.origin = value;
      return;
    case 15:
      if (name === 'x-forwarded-for' && first(1 << 6)) head.forwardedFor = value;
      return;
    case 5:
      if (name === 'x-ack' && first(1 << 7)) head.ack = value;
      return;
    case 13:
      if (name === 'authorization' && first(1 << 8)) head.authorization = value;
      return;
  }
}

function reset(query: string): void {
  head.contentType = head.contentLength = head.contentEncoding = head.transferEncoding = '';
  head.userAgent = head.origin = head.forwardedFor = head.ack = head.authorization = '';
  head.query = query;
  headerBytes = 0;
  lengthsDiffer = false;
  seen = 0;
}

/** The pure-Node fallback cannot iterate headers (node:http refuses differing lengths itself). */
function readFallbackHead(req: HttpRequest): void {
  const url = nodeRequest(req).url ?? '';
  const at = url.indexOf('?');
  reset(at < 0 ? '' : url.slice(at + 1));
  head.contentType = req.getHeader('content-type');
  head.contentLength = req.getHeader('content-length');
  head.contentEncoding = req.getHeader('content-encoding');
  head.transferEncoding = req.getHeader('transfer-encoding');
  head.userAgent = req.getHeader('user-agent');
  head.origin = req.getHeader('origin');
  head.forwardedFor = req.getHeader('x-forwarded-for');
  head.ack = req.getHeader('x-ack');
  head.authorization = req.getHeader('authorization');
  headerBytes = (nodeRequest(req).rawHeaders ?? []).reduce((sum, part) => sum + part.length + 2, 0);
}

/**
 * Reads a request's head; returns the refusal it earns, or the head. The head is valid only until
 * the handler returns. `staticPath`: the route's path when it has no wildcard or parameter, so
 * that uWS matched the URL to it exactly and it need not be asked for.
 */
export function readHead(req: HttpRequest, limits: HeadLimits, staticPath?: string): RequestHead | RequestError {
  let targetBytes: number;
  if (NATIVE_UWS) {
    reset(req.getQuery() ?? '');
    targetBytes = (staticPath ?? req.getUrl()).length + (head.query === '' ? 0 : head.query.length + 1);
  } else {
    readFallbackHead(req);
    targetBytes = (nodeRequest(req).url ?? '').length;
  }
  if (targetBytes > limits.maxUrlBytes) {
    return new RequestError('uri_too_long', `the request target has ${targetBytes} bytes, more than the limit of ${limits.maxUrlBytes}`);
  }
  if (NATIVE_UWS) req.forEach(takeHeader);
  if (lengthsDiffer) {
    return new RequestError('conflicting_content_length', 'the request has several Content-Length headers with different values');
  }
  if (headerBytes > limits.maxHeaderBytes) {
    return new RequestError('headers_too_large', `the headers take ${headerBytes} bytes, more than the limit of ${limits.maxHeaderBytes}`);
  }
  return head;
}
