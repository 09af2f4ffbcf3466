// GET /v1/pixel.gif: a tracking pixel. Its query parameters become one event (decoded; a repeated
// key becomes an array), and the answer is always the same 43-byte transparent GIF, never cached.

import type { HttpResponse } from './uws';

export const PIXEL_GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');

export function pixelEvent(query: string): Buffer {
  const event: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(query)) {
    const seen = event[key];
    if (seen === undefined) event[key] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else event[key] = [seen, value];
  }
  return Buffer.from(JSON.stringify(event));
}

export function sendPixel(res: HttpResponse): void {
  res.writeStatus('200 OK');
  res.writeHeader('Content-Type', 'image/gif');
  res.writeHeader('Cache-Control', 'no-cache, no-store, must-revalidate');
  res.writeHeader('Pragma', 'no-cache');
  res.writeHeader('Expires', '0');
  res.end(PIXEL_GIF);
}
