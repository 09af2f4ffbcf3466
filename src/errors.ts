// Every error the gateway raises on purpose, each with a stable code: the HTTP answers (one code,
// one status, one meaning; the error table of docs/errors.md is checked against this list by a test),
// and the failures that stop a command (bad options, a start that cannot complete, a stream that is
// not there, data not in the format it claims).

export const ERROR_CODES = {
  empty_body: { status: 400, meaning: 'the request had no events' },
  malformed_json: { status: 400, meaning: 'the body is not valid JSON or NDJSON; the message names the first bad event' },
  invalid_utf8: { status: 400, meaning: 'the body is not valid UTF-8' },
  bad_encoding: { status: 400, meaning: 'the body is not valid gzip or deflate data as its Content-Encoding says' },
  conflicting_content_length: {
    status: 400,
    meaning: 'several Content-Length headers with different values (RFC 9112 §6.3: the framing cannot be trusted); the connection is closed',
  },
  not_an_object: { status: 400, meaning: 'an event is not a JSON object' },
  too_deep: { status: 400, meaning: 'an event nests deeper than --max-event-depth' },
  // Segment HTTP spec routes (src/http/segment-routes.ts)
  segment_too_large: { status: 400, meaning: "a Segment call is larger than 32 KB, or a Segment batch than 500 KB (Segment's own limits)" },
  segment_invalid: { status: 400, meaning: 'a Segment batch has no "batch" array, or a call in it has no "type"' },
  missing_write_key: { status: 401, meaning: 'write keys are configured and the request has none (Authorization: Basic, or ?writeKey=)' },
  unknown_write_key: { status: 403, meaning: 'the write key is not one of --write-keys' },
  origin_not_allowed: { status: 403, meaning: 'the Origin is not in --cors-origins' },
  not_found: { status: 404, meaning: 'no such route' },
  method_not_allowed: { status: 405, meaning: 'the route exists but not for this method (see the Allow header)' },
  body_timeout: { status: 408, meaning: 'the body did not arrive whole within --body-timeout-ms' },
  length_required: { status: 411, meaning: 'a POST without Content-Length or chunked Transfer-Encoding' },
  body_too_large: {
    status: 413,
    meaning:
      'the body is larger than --max-body-bytes (inflated: --max-inflated-bytes or --max-inflate-ratio), or its events take more than half the buffer in their envelopes',
  },
  event_too_large: { status: 413, meaning: 'one event, wrapped in its envelope, exceeds the 1 MiB Kinesis record limit' },
  uri_too_long: { status: 414, meaning: 'the request target (path and query) is longer than --max-url-bytes; the connection is closed' },
  unsupported_media_type: { status: 415, meaning: 'Content-Type is not JSON, NDJSON or text/plain, or Content-Encoding is not gzip, deflate or identity' },
  rate_limited: { status: 429, meaning: 'this client IP sent more than --rate-limit-per-ip requests per second; retry after Retry-After' },
  headers_too_large: { status: 431, meaning: 'the request headers are larger than --max-header-bytes' },
  internal: { status: 500, meaning: 'an unexpected error in the gateway; the events were not accepted (it is logged)' },
  not_ready: { status: 503, meaning: 'the gateway is starting and its stream is not confirmed yet' },
  buffer_full: { status: 503, meaning: 'the gateway buffer (and its spool, when configured) is full; retry after the Retry-After seconds' },
  spool_unavailable: {
    status: 503,
    meaning: 'the spool cannot be written (disk full or unwritable), so nothing is acknowledged that could not be kept; retry after Retry-After',
  },
  not_confirmed: {
    status: 503,
    meaning: '?ack=stream: Kinesis did not confirm every event in time; the body says how many were (`confirmed`, `deadLettered`); the rest are still queued',
  },
  draining: { status: 503, meaning: 'the gateway is shutting down; retry on another instance' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A request the gateway refuses; carries what the HTTP layer needs to answer it. */
export class RequestError extends Error {
  readonly status: number;
  /** Methods the route takes, for the Allow header of a 405. */
  allow?: string;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Readonly<Record<string, number>>,
  ) {
    super(message);
    this.status = ERROR_CODES[code].status;
  }

  static methodNotAllowed(method: string, path: string, allow: string): RequestError {
    const error = new RequestError('method_not_allowed', `${path} does not take ${method}; use ${allow}`);
    error.allow = allow;
    return error;
  }

  toJSON(): string {
    return JSON.stringify({ error: this.code, message: this.message, ...this.details });
  }
}

export const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: '200 OK',
  202: '202 Accepted',
  204: '204 No Content',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  408: '408 Request Timeout',
  411: '411 Length Required',
  413: '413 Payload Too Large',
  414: '414 URI Too Long',
  415: '415 Unsupported Media Type',
  429: '429 Too Many Requests',
  431: '431 Request Header Fields Too Large',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

/** A failure that stops a command, not a request: the CLI prints its message and exits. */
export abstract class GatewayError<Code extends string = string> extends Error {
  constructor(
    readonly code: Code,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Options that do not parse or do not fit together; every problem at once. */
export class ConfigError extends GatewayError<'invalid_config'> {
  constructor(readonly problems: readonly string[]) {
    super('invalid_config', `invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

export type StartupErrorCode =
  /** Only the pure-Node fallback of uWebSockets.js loads, and --allow-uws-fallback is not set. */
  | 'uws_fallback'
  /** --write-keys-file cannot be read. */
  | 'write_keys_unreadable'
  /** The embedded local Kinesis did not start (its port is taken, or the child died). */
  | 'local_kinesis_failed'
  /** --spool-dir cannot be made, read or locked. */
  | 'spool_unusable'
  /** A listener cannot bind its host and port. */
  | 'listen_failed'
  /** The stream cannot be confirmed for a reason other than a StreamError (Kinesis refused to create it...). */
  | 'stream_unconfirmed'
  /** replay: the progress file belongs to a longer dead-letter file. */
  | 'replay_progress_mismatch';

/** A part of the command cannot start; what was started is closed again. */
export class StartupError extends GatewayError<StartupErrorCode> {}

export type StreamErrorCode = 'stream_not_found' | 'stream_deleting' | 'stream_wait_cancelled';

/** The stream is not there to be written, or the wait for it was given up. */
export class StreamError extends GatewayError<StreamErrorCode> {}

export type FormatErrorCode = 'bad_varint' | 'unsupported_wire_type' | 'missing_field' | 'key_index_out_of_range';

/** Bytes that claim a format (a KPL aggregated record) and break its rules. */
export class FormatError extends GatewayError<FormatErrorCode> {}
