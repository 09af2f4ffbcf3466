// The per-IP rate limit as a token bucket, on a clock the test sets: the request times are
// arguments, so no test depends on how fast requests arrive.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Admission } from '../../src/http/admission';

/** How many of `count` requests from `ip` at `nowMs` are let through. */
function allowed(admission: Admission, ip: string, nowMs: number, count: number): number {
  let n = 0;
  for (let i = 0; i < count; i++) if (!admission.checkRate(ip, nowMs)) n++;
  return n;
}

describe('--rate-limit-per-ip', () => {
  it('lets a new client send one second of requests at once, then refuses with rate_limited', () => {
    const admission = new Admission({ rateLimitPerIp: 20 });
    assert.equal(allowed(admission, '198.51.100.1', 1_000, 20), 20);
    const refusal = admission.checkRate('198.51.100.1', 1_000);
    assert.equal(refusal?.code, 'rate_limited');
    assert.equal(refusal?.status, 429);
    assert.equal(refusal?.message, 'more than 20 requests per second from 198.51.100.1');
  });

  it('refills at the rate, continuously, and a refused request does not restart the refill', () => {
    const admission = new Admission({ rateLimitPerIp: 20 });
    allowed(admission, 'ip', 1_000, 20);
    assert.equal(allowed(admission, 'ip', 1_050, 5), 1, '50 ms at 20 per second is one request');
    assert.equal(allowed(admission, 'ip', 1_075, 5), 0, 'half a token is not enough');
    assert.equal(allowed(admission, 'ip', 1_100, 5), 1, 'the half kept from 25 ms earlier makes one');
    assert.equal(allowed(admission, 'ip', 1_600, 20), 10, 'half a second later: ten');
  });

  it('holds at most one second of burst, however long the client was idle', () => {
    const admission = new Admission({ rateLimitPerIp: 20 });
    allowed(admission, 'ip', 1_000, 1);
    assert.equal(allowed(admission, 'ip', 61_000, 30), 20);
  });

  it('keeps a bucket per client IP', () => {
    const admission = new Admission({ rateLimitPerIp: 20 });
    assert.equal(allowed(admission, 'a', 1_000, 30), 20);
    assert.equal(allowed(admission, 'b', 1_000, 30), 20);
  });

  it('limits nothing at 0', () => {
    const admission = new Admission({ rateLimitPerIp: 0 });
    assert.equal(allowed(admission, 'ip', 1_000, 1_000), 1_000);
  });
});
