// Reads a request body within a byte limit while it arrives. A body that comes in one chunk (most
// events) is handed over without a copy: the view is valid only during the onBody call, because
// uWS neuters the chunk's ArrayBuffer when onData returns.

import type { HttpResponse } from './uws';

export interface BodyCallbacks {
  onBody(body: Uint8Array): void;
  onTooLarge(): void;
  /** The body did not arrive whole in time; the response must still be answered (res is valid). */
  onTimeout(): void;
}

const INITIAL_CHUNKED_CAPACITY = 16 * 1024;

/**
 * Must be called during the synchronous part of the route handler. uWS closes a connection idle
 * for 10 s, but a client sending a byte every few seconds is never idle: a body that comes in
 * several chunks must be whole within timeoutMs. (One-chunk bodies start no timer.)
 */
export function readBody(res: HttpResponse, declaredLength: number, maxBytes: number, timeoutMs: number, callbacks: BodyCallbacks): void {
  let aborted = false;
  let refused = false;
  let buffer: Buffer | undefined;
  let received = 0;
  let deadline: NodeJS.Timeout | undefined;
  res.onAborted(() => {
    aborted = true;
    buffer = undefined;
    clearTimeout(deadline);
  });
  res.onData((chunk, isLast) => {
    if (aborted || refused) return;
    const bytes = new Uint8Array(chunk);
    if (received + bytes.length > maxBytes) {
      refused = true;
      buffer = undefined;
      clearTimeout(deadline);
      callbacks.onTooLarge();
      return;
    }
    if (isLast && buffer === undefined) {
      callbacks.onBody(bytes);
      return;
    }
    deadline ??= setTimeout(() => {
      if (aborted || refused) return;
      refused = true;
      buffer = undefined;
      callbacks.onTimeout();
    }, timeoutMs);
    buffer ??= Buffer.allocUnsafe(declaredLength > 0 ? declaredLength : INITIAL_CHUNKED_CAPACITY);
    if (received + bytes.length > buffer.length) {
      const grown = Buffer.allocUnsafe(Math.min(maxBytes, Math.max(buffer.length * 2, received + bytes.length)));
      buffer.copy(grown, 0, 0, received);
      buffer = grown;
    }
    buffer.set(bytes, received);
    received += bytes.length;
    if (isLast) {
      clearTimeout(deadline);
      const body = buffer.subarray(0, received);
      buffer = undefined;
      callbacks.onBody(body);
    }
  });
}
