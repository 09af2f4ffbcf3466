// Writing answers: status first, then headers, then the body, as uWS requires.

import { RequestError, STATUS_TEXT } from '../errors';
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

export function writeCors(res: HttpResponse, corsOrigin: string | undefined): void {
  if (!corsOrigin) return;
  res.writeHeader('Access-Control-Allow-Origin', corsOrigin);
  res.writeHeader('Vary', 'Origin');
}

export function sendJson(res: HttpResponse, status: number, body: string, extras: ResponseExtras = {}): void {
  res.writeStatus(STATUS_TEXT[status] ?? String(status));
  res.writeHeader('Content-Type', 'application/json');
  if (status === 503 || status === 429) res.writeHeader('Retry-After', RETRY_AFTER_SECONDS);
  if (extras.allow) res.writeHeader('Allow', extras.allow);
  writeCors(res, extras.corsOrigin);
  res.end(body, extras.close ?? false);
}

export function sendError(res: HttpResponse, error: RequestError, extras: ResponseExtras = {}): void {
  sendJson(res, error.status, error.toJSON(), { ...extras, allow: error.allow });
}
