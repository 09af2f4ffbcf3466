// Who may send events: browser origins (CORS), write keys, and a per-client-IP request rate.

import { readFileSync } from 'node:fs';
import { RequestError } from '../errors';

export interface AdmissionOptions {
  readonly corsOrigins?: string;
  readonly writeKeys?: string;
  readonly writeKeysFile?: string;
  readonly rateLimitPerIp: number;
}

const SWEEP_INTERVAL_MS = 10_000;

function list(text: string | undefined, separator: RegExp): string[] {
  return (text ?? '')
    .split(separator)
    .map((item) => item.trim())
    .filter(Boolean);
}

export class Admission {
  private readonly origins: ReadonlySet<string>;
  private readonly anyOrigin: boolean;
  private readonly writeKeys: ReadonlySet<string> | undefined;
  private readonly buckets = new Map<string, { tokens: number; last: number }>();

  constructor(private readonly options: AdmissionOptions) {
    const origins = list(options.corsOrigins, /,/);
    this.anyOrigin = origins.includes('*');
    this.origins = new Set(origins);
    const keys = [...list(options.writeKeys, /,/), ...(options.writeKeysFile ? list(readFileSync(options.writeKeysFile, 'utf8'), /\r?\n/) : [])];
    this.writeKeys = keys.length > 0 ? new Set(keys) : undefined;
    if (options.rateLimitPerIp > 0) {
      setInterval(() => this.sweep(Date.now()), SWEEP_INTERVAL_MS).unref();
    }
  }

  /** Whether browser origins are restricted at all. */
  get corsConfigured(): boolean {
    return this.origins.size > 0;
  }

  get rateLimited(): boolean {
    return this.options.rateLimitPerIp > 0;
  }

  get writeKeysConfigured(): boolean {
    return this.writeKeys !== undefined;
  }

  /** The Access-Control-Allow-Origin to answer with, or undefined for no CORS headers. */
  allowOrigin(origin: string): string | undefined {
    if (origin === '' || !this.corsConfigured) return undefined;
    if (this.anyOrigin) return '*';
    return this.origins.has(origin) ? origin : undefined;
  }

  /** A browser origin outside the allow-list may not send events, beacons included (they need no preflight). */
  checkOrigin(origin: string): RequestError | undefined {
    if (origin === '' || !this.corsConfigured || this.allowOrigin(origin)) return undefined;
    return new RequestError('origin_not_allowed', `origin ${origin} may not send events here`);
  }

  /** The key comes as the user name of Basic authentication (Segment and Snowplow style) or as ?writeKey=. */
  checkWriteKey(authorization: string, query: string): RequestError | undefined {
    if (!this.writeKeys) return undefined;
    let key: string | null = null;
    if (authorization.toLowerCase().startsWith('basic ')) {
      key = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8').split(':', 1)[0];
    } else if (query.includes('writeKey=')) {
      key = new URLSearchParams(query).get('writeKey');
    }
    return this.checkKey(key);
  }

  /** Checks a key found elsewhere (a Segment body's writeKey, a settings path); '' or null: none. */
  checkKey(key: string | null): RequestError | undefined {
    if (!this.writeKeys) return undefined;
    if (!key) return new RequestError('missing_write_key', 'a write key is required: Authorization: Basic <base64 of key:>, or ?writeKey=<key>');
    return this.writeKeys.has(key) ? undefined : new RequestError('unknown_write_key', 'the write key is not known');
  }

  /** A token bucket per client IP: a second's worth of burst, refilled continuously. */
  checkRate(ip: string, nowMs: number): RequestError | undefined {
    const rate = this.options.rateLimitPerIp;
    if (rate === 0) return undefined;
    let bucket = this.buckets.get(ip);
    if (!bucket) {
      bucket = { tokens: rate, last: nowMs };
      this.buckets.set(ip, bucket);
    }
    bucket.tokens = Math.min(rate, bucket.tokens + ((nowMs - bucket.last) / 1000) * rate);
    bucket.last = nowMs;
    if (bucket.tokens < 1) return new RequestError('rate_limited', `more than ${rate} requests per second from ${ip}`);
    bucket.tokens -= 1;
    return undefined;
  }

  /** Forgets clients idle long enough to have a full bucket again: memory stays bounded by active clients. */
  private sweep(nowMs: number): void {
    for (const [ip, bucket] of this.buckets) if (nowMs - bucket.last > SWEEP_INTERVAL_MS) this.buckets.delete(ip);
  }
}
