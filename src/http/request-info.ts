// Reading parts of a request that the pure-Node fallback of uWS implements badly or not at all
// (forEach throws; getQuery throws on every request). On the fallback, HttpRequest wraps a
// node:http request, which has what is needed.

import { NATIVE_UWS, type HttpRequest } from './uws';

export function nodeRequest(req: HttpRequest): { rawHeaders?: string[]; url?: string } {
  return (req as unknown as { request?: { rawHeaders?: string[]; url?: string } }).request ?? {};
}

/** The raw query string, without the '?'. */
export function queryOf(req: HttpRequest): string {
  if (!NATIVE_UWS) {
    const url = nodeRequest(req).url ?? '';
    const at = url.indexOf('?');
    return at < 0 ? '' : url.slice(at + 1);
  }
  return req.getQuery() ?? '';
}
