// Writing answers: status first, then headers, then the body, as uWS requires.

import { RequestError, STATUS_TEXT } from '../errors';
import type { HttpResponse } from './uws';

export const RETRY_AFTER_SECONDS = '1';

export function sendJson(res: HttpResponse, status: number, body: string, closeConnection = false, allow?: string): void {
  res.writeStatus(STATUS_TEXT[status] ?? String(status));
  res.writeHeader('Content-Type', 'application/json');
  if (status === 503) res.writeHeader('Retry-After', RETRY_AFTER_SECONDS);
  if (allow) res.writeHeader('Allow', allow);
  res.end(body, closeConnection);
}

export function sendError(res: HttpResponse, error: RequestError, closeConnection = false): void {
  sendJson(res, error.status, error.toJSON(), closeConnection, error.allow);
}
