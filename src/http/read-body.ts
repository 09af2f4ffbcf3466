// Reads a request body within a byte limit while it arrives. A body that comes in one chunk (most
// events) is handed over without a copy: the view is valid only during the `bodyArrived` call, because
// uWS neuters the chunk's ArrayBuffer when onData returns.

import type { HttpResponse } from './uws';

/**
 * What readBody hands over once: the whole body, or why there is none. 'timeout' comes from a timer
 * (res is still valid, but its writes need res.cork); the rest from uWS's data callback.
 */
export type BodyOutcome = Uint8Array | 'too_large' | 'timeout';

/** Who gets the outcome: an object of the request's, rather than a closure made for it. */
export interface BodyReceiver {
  bodyArrived(outcome: BodyOutcome): void;
}

const INITIAL_CHUNKED_CAPACITY = 16 * 1024;

/**
 * Must be called during the synchronous part of the route handler. uWS closes an idle connection
 * (after 10 to 30 s, by build), but a client sending a byte every few seconds is never idle: a body that comes in
 * several chunks must be whole within timeoutMs. (One-chunk bodies start no timer.)
 */
export function readBody(res: HttpResponse, declaredLength: number, maxBytes: number, timeoutMs: number, receiver: BodyReceiver): void {
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
      receiver.bodyArrived('too_large');
      return;
    }
    if (isLast && buffer === undefined) {
      receiver.bodyArrived(bytes);
      return;
    }
    deadline ??= setTimeout(() => {
      if (aborted || refused) return;
      refused = true;
      buffer = undefined;
      receiver.bodyArrived('timeout');
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
      receiver.bodyArrived(body);
    }
  });
}
