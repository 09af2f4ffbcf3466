// Compressed request bodies (Content-Encoding gzip or deflate), inflated within two bounds: an
// absolute size and a ratio to the compressed size, so that a small compression bomb cannot make
// the gateway allocate much. zlib stops at the bound instead of inflating everything first.

import { gunzipSync, inflateSync } from 'node:zlib';
import { RequestError } from '../errors';

export type BodyEncoding = 'identity' | 'gzip' | 'deflate';

export function bodyEncoding(header: string): BodyEncoding | undefined {
  if (header === '') return 'identity';
  const value = header.trim().toLowerCase();
  if (value === '' || value === 'identity') return 'identity';
  if (value === 'gzip' || value === 'x-gzip') return 'gzip';
  if (value === 'deflate') return 'deflate';
  return undefined;
}

export function inflateBody(body: Uint8Array, encoding: 'gzip' | 'deflate', maxBytes: number, maxRatio: number): Buffer {
  const ratioBound = body.length * maxRatio;
  const limit = Math.min(maxBytes, ratioBound);
  try {
    return (encoding === 'gzip' ? gunzipSync : inflateSync)(body, { maxOutputLength: limit });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      const which = ratioBound < maxBytes ? `${maxRatio} times its compressed size of ${body.length} bytes` : `the limit of ${maxBytes} bytes`;
      throw new RequestError('body_too_large', `the ${encoding} body inflates to more than ${which}`);
    }
    throw new RequestError('bad_encoding', `the body is not valid ${encoding} data: ${(err as Error).message}`);
  }
}
