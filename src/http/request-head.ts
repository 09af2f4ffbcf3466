// Checks of a request's head that every public route makes before anything else. Neither uWS build
// enforces them the way a front door must (measured): both take a request with two different
// Content-Length values, framing its body by the first (RFC 9112 §6.3 makes that an unrecoverable
// error: a request-smuggling vector behind a proxy that frames by the other), and the legacy build
// takes any request target, where the official one answers a bare 431 past its own head limit. So the
// gateway answers them itself, the same JSON on either build, and closes the connection.

import { RequestError } from '../errors';
import { NATIVE_UWS, type HttpRequest } from './uws';
import { nodeRequest, queryOf } from './request-info';

export interface HeadLimits {
  readonly maxUrlBytes: number;
  readonly maxHeaderBytes: number;
}

/** The request target's length: the path and, when there is one, '?' and the query. */
function targetLength(req: HttpRequest): number {
  if (!NATIVE_UWS) return (nodeRequest(req).url ?? '').length;
  const query = queryOf(req);
  return req.getUrl().length + (query === '' ? 0 : query.length + 1);
}

// One pass over the headers fills these; the main thread reads one request head at a time.
let headerBytes = 0;
let firstLength: string | undefined;
let lengthsDiffer = false;
function countHeader(name: string, value: string): void {
  headerBytes += name.length + value.length + 4;
  if (name !== 'content-length') return;
  if (firstLength === undefined) firstLength = value;
  else if (value !== firstLength) lengthsDiffer = true;
}

/** The refusal a request's head earns, or undefined. */
export function headRefusal(req: HttpRequest, limits: HeadLimits): RequestError | undefined {
  const target = targetLength(req);
  if (target > limits.maxUrlBytes) {
    return new RequestError('uri_too_long', `the request target has ${target} bytes, more than the limit of ${limits.maxUrlBytes}`);
  }
  headerBytes = 0;
  firstLength = undefined;
  lengthsDiffer = false;
  // The pure-Node fallback cannot iterate headers; node:http refuses differing lengths itself.
  if (NATIVE_UWS) req.forEach(countHeader);
  else headerBytes = (nodeRequest(req).rawHeaders ?? []).reduce((sum, part) => sum + part.length + 2, 0);
  if (lengthsDiffer) {
    return new RequestError('conflicting_content_length', 'the request has several Content-Length headers with different values');
  }
  if (headerBytes > limits.maxHeaderBytes) {
    return new RequestError('headers_too_large', `the headers take ${headerBytes} bytes, more than the limit of ${limits.maxHeaderBytes}`);
  }
  return undefined;
}
