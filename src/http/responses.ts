// Writing answers: status first, then headers, then the body, as uWS requires. The constant parts
// are handed to uWS as bytes: a string would be converted to UTF-8 on every call.

import { type RequestError, STATUS_TEXT } from '../errors';
import type { HttpResponse } from './uws';

export const RETRY_AFTER_SECONDS = '1';

export interface ResponseExtras {
  /** Close the connection after answering (its unread body must not be taken for a request). */
  readonly close?: boolean;
  /** Methods the route takes, for a 405. */
  readonly allow?: string;
  /** The Access-Control-Allow-Origin value, for an allowed browser origin. */
  readonly corsOrigin?: string;
}

/** By status code: an array, not a map, as it is read for every answer. */
const STATUS_LINES: Buffer[] = [];
for (const [status, text] of Object.entries(STATUS_TEXT)) STATUS_LINES[Number(status)] = Buffer.from(text);
const CONTENT_TYPE = Buffer.from('Content-Type');
const JSON_TYPE = Buffer.from('application/json');
/** `{"accepted":N}` for the counts most requests have; others are written as text. */
const ACCEPTED_BODIES = Array.from({ length: 128 }, (_, count) => Buffer.from(`{"accepted":${count}}`));

export function writeCors(res: HttpResponse, corsOrigin: string | undefined): void {
  if (!corsOrigin) return;
  res.writeHeader('Access-Control-Allow-Origin', corsOrigin);
  res.writeHeader('Vary', 'Origin');
}

function writeJsonHead(res: HttpResponse, status: number): void {
  res.writeStatus(STATUS_LINES[status] ?? String(status));
  res.writeHeader(CONTENT_TYPE, JSON_TYPE);
}

export function sendJson(res: HttpResponse, status: number, body: string, extras: ResponseExtras = {}): void {
  writeJsonHead(res, status);
  if (status === 503 || status === 429) res.writeHeader('Retry-After', RETRY_AFTER_SECONDS);
  if (extras.allow) res.writeHeader('Allow', extras.allow);
  writeCors(res, extras.corsOrigin);
  res.end(body, extras.close ?? false);
}

/** The answer to taken events: `{"accepted":N}` with 200 or 202. */
export function sendAccepted(res: HttpResponse, status: 200 | 202, accepted: number, corsOrigin: string | undefined): void {
  writeJsonHead(res, status);
  writeCors(res, corsOrigin);
  res.end(ACCEPTED_BODIES[accepted] ?? `{"accepted":${accepted}}`);
}

export function sendError(res: HttpResponse, error: RequestError, extras: ResponseExtras = {}): void {
  sendJson(res, error.status, error.toJSON(), { ...extras, allow: error.allow });
}
