// Reading parts of a request that the pure-Node fallback of uWS implements badly or not at all
// (forEach throws; getQuery throws on every request). On the fallback, HttpRequest wraps a
// node:http request, which has what is needed.

import type { HttpRequest } from './uws';

export function nodeRequest(req: HttpRequest): { rawHeaders?: string[]; url?: string } {
  return (req as unknown as { request?: { rawHeaders?: string[]; url?: string } }).request ?? {};
}
