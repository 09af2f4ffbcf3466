// A POST that carries events, from its head to its answer. /v1/events and the Segment calls share
// every step: admission, the head's checks, reading the body within its limits, inflating, taking
// the events, the refusals. They differ only in how a body becomes events and what a success looks
// like: an EventRoute says that.
//
// One object per request holds what the later steps need (EventPost), where closures made per
// request would hold it otherwise: this runs for every event the gateway takes.

import { performance } from 'node:perf_hooks';
import { RequestError } from '../errors';
import type { RequestMeta } from '../events/envelope';
import type { BodyFormat, EventSpans } from '../events/json-scan';
import type { Answer, AnswerListener, Intake, TakenAnswer } from '../intake/intake';
import type { Logger } from '../log';
import type { Admission } from './admission';
import { bodyEncoding, inflateBody, type BodyEncoding } from './inflate';
import { readBody, type BodyOutcome, type BodyReceiver } from './read-body';
import type { Readiness } from './readiness';
import type { RequestHead } from './request-head';
import type { RequestMetrics, Route } from './request-metrics';
import type { HttpResponse } from './uws';

/** The events found in a body: the bytes the spans index, and the write key it carried ('' for none). */
export interface EventsRead {
  readonly body: Uint8Array;
  readonly spans: EventSpans;
  readonly writeKey: string;
}

/** What differs between the routes that take events in a POST body. */
export interface EventRoute {
  readonly path: Route;
  /** The format of a body of this Content-Type, or undefined when the route does not read it. */
  format(contentType: string): BodyFormat | undefined;
  /** The media types `format` knows, for the refusal of another. */
  readonly mediaTypes: string;
  /** Whether the write key may come in the body instead of the head (Segment's writeKey). */
  readonly keyInBody: boolean;
  /** Whether the client asked to be answered only once Kinesis has the events. */
  waitsForStream(head: RequestHead): boolean;
  /** Finds the events of a whole, inflated body; throws a RequestError naming what is wrong. */
  read(body: Uint8Array, format: BodyFormat, maxDepth: number): EventsRead;
  /** Answers taken events; returns the status sent. */
  answer(res: HttpResponse, answer: TakenAnswer, corsOrigin: string | undefined): number;
}

/** What the client's request says about it; copied from the head, which is valid only synchronously. */
export interface RequestFacts {
  /** The client address, for rate limits. */
  readonly ip: string;
  /** The client address as --ip-policy lets it be stored. */
  readonly storedIp: string;
  readonly userAgent: string;
  readonly origin: string;
  readonly corsOrigin: string | undefined;
}

/** The parts of the public app every event POST uses. */
export interface EventPostParts {
  readonly intake: Intake;
  readonly readiness: Readiness;
  readonly admission: Admission;
  readonly metrics: RequestMetrics;
  readonly log: Logger;
  readonly limits: {
    readonly maxBodyBytes: number;
    readonly maxInflatedBytes: number;
    readonly maxInflateRatio: number;
    readonly maxEventDepth: number;
    readonly bodyTimeoutMs: number;
  };
  factsOf(head: RequestHead, res: HttpResponse): RequestFacts;
  /** The checks before the body; `checkKey` false leaves the write key to the body. */
  admit(head: RequestHead, facts: RequestFacts, checkKey: boolean): RequestError | undefined;
  refuse(res: HttpResponse, error: RequestError, startedMs: number, facts: RequestFacts | undefined, close: boolean, route: Route, body?: Uint8Array): void;
}

/** Takes the events of a POST on `route`: checks its head now, and reads its body when it comes. */
export function postEvents(parts: EventPostParts, route: EventRoute, res: HttpResponse, head: RequestHead): void {
  const started = performance.now();
  const facts = parts.factsOf(head, res);
  const { limits } = parts;
  const keyInHead = !route.keyInBody || head.authorization !== '' || head.query.includes('writeKey=');
  const format = route.format(head.contentType);
  const encoding = bodyEncoding(head.contentEncoding);
  const declaredLength = Number(head.contentLength || 0);
  const refusal = parts.admit(head, facts, keyInHead) ?? headRefusal(head, route, format, encoding, declaredLength, limits.maxBodyBytes);
  // A refusal before the body is read closes the connection: its unread body must not be
  // mistaken for the next request.
  if (refusal) {
    parts.refuse(res, refusal, started, facts, true, route.path);
    return;
  }
  // headRefusal refuses an unknown type or encoding: both are known here.
  const post = new EventPost(parts, route, res, started, facts, format!, encoding!, keyInHead, route.waitsForStream(head));
  readBody(res, declaredLength, limits.maxBodyBytes, limits.bodyTimeoutMs, post);
}

/** Why the head of an event POST is refused, if it is: no length, an unknown type or encoding, a length over the limit. */
function headRefusal(
  head: RequestHead,
  route: EventRoute,
  format: BodyFormat | undefined,
  encoding: BodyEncoding | undefined,
  declaredLength: number,
  maxBodyBytes: number,
): RequestError | undefined {
  if (head.contentLength === '' && head.transferEncoding.toLowerCase() !== 'chunked') {
    return new RequestError('length_required', 'send Content-Length (or a chunked body)');
  }
  if (format === undefined) {
    return new RequestError('unsupported_media_type', `Content-Type ${head.contentType} is not accepted; send ${route.mediaTypes}`);
  }
  if (encoding === undefined) {
    return new RequestError('unsupported_media_type', `Content-Encoding ${head.contentEncoding} is not accepted; send gzip, deflate or identity`);
  }
  if (declaredLength > maxBodyBytes) {
    return new RequestError('body_too_large', `the body has ${declaredLength} bytes, more than the limit of ${maxBodyBytes}`);
  }
  return undefined;
}

/**
 * Hears a request's answer from the intake: at once, inside uWS's callback where writes are corked
 * already, or later (after a spool commit, or Kinesis), when it is corked here and dropped if the
 * client has gone.
 */
export abstract class AnswerWhenReady implements AnswerListener {
  private taking = false;
  private answered = false;
  private aborted = false;

  constructor(protected readonly res: HttpResponse) {}

  /** Intake.take for this request; throws its RequestError. */
  protected take(intake: Intake, body: Uint8Array, spans: EventSpans, meta: RequestMeta, waitForStream: boolean): void {
    this.taking = true;
    try {
      intake.take(body, spans, meta, waitForStream, this);
    } finally {
      this.taking = false;
    }
    // Only an answer still to come needs to hear of an abort (the body is read by now).
    if (!this.answered) this.res.onAborted(() => (this.aborted = true));
  }

  onAnswer(answer: Answer): void {
    this.answered = true;
    if (this.taking) this.send(answer);
    else if (!this.aborted) this.res.cork(() => this.send(answer));
  }

  protected abstract send(answer: Answer): void;
}

/** One event POST whose head passed: it receives the body, then the intake's answer. */
class EventPost extends AnswerWhenReady implements BodyReceiver, RequestMeta {
  receivedAt = 0;
  readonly ip: string;
  readonly userAgent: string;
  readonly path: string;

  constructor(
    private readonly parts: EventPostParts,
    private readonly route: EventRoute,
    res: HttpResponse,
    private readonly started: number,
    private readonly facts: RequestFacts,
    private readonly format: BodyFormat,
    private readonly encoding: BodyEncoding,
    private readonly keyInHead: boolean,
    private readonly waitForStream: boolean,
  ) {
    super(res);
    this.ip = facts.storedIp;
    this.userAgent = facts.userAgent;
    this.path = route.path;
  }

  bodyArrived(outcome: BodyOutcome): void {
    const { limits } = this.parts;
    if (outcome === 'timeout') {
      // From a timer, outside uWS's callbacks: writes need a cork.
      this.res.cork(() => this.refuse(new RequestError('body_timeout', `the body did not arrive whole within ${limits.bodyTimeoutMs} ms`), true));
    } else if (outcome === 'too_large') {
      // The rest runs inside uWS's data callback, where writes are corked already.
      this.refuse(new RequestError('body_too_large', `the body is larger than the limit of ${limits.maxBodyBytes} bytes`), true);
    } else if (!this.parts.readiness.acceptingEvents) {
      this.refuse(new RequestError('draining', 'the gateway is shutting down; retry on another instance'));
    } else {
      this.takeBody(outcome);
    }
  }

  private takeBody(received: Uint8Array): void {
    const { parts } = this;
    const { limits } = parts;
    try {
      // Inflating is CPU work on the main thread: bounded by the size and ratio limits.
      const body = this.encoding === 'identity' ? received : inflateBody(received, this.encoding, limits.maxInflatedBytes, limits.maxInflateRatio);
      const events = this.route.read(body, this.format, limits.maxEventDepth);
      const keyRefusal = this.keyInHead ? undefined : parts.admission.checkKey(events.writeKey);
      if (keyRefusal) throw keyRefusal;
      this.receivedAt = Date.now();
      this.take(parts.intake, events.body, events.spans, this, this.waitForStream);
    } catch (err) {
      if (err instanceof RequestError) {
        this.refuse(err, false, received);
      } else {
        parts.log.error({ err, route: this.path }, 'unexpected error while taking events');
        this.refuse(new RequestError('internal', 'unexpected error; the events were not accepted'), false, received);
      }
    }
  }

  protected send(answer: Answer): void {
    if (answer.status === 503) {
      this.refuse(answer.error);
    } else {
      const status = this.route.answer(this.res, answer, this.facts.corsOrigin);
      this.parts.metrics.answerTimed(this.route.path, status, this.started);
    }
  }

  private refuse(error: RequestError, close = false, body?: Uint8Array): void {
    this.parts.refuse(this.res, error, this.started, this.facts, close, this.route.path, body);
  }
}
