// The client's IP as the envelope records it. Behind N trusted proxies (an ELB is one), the client
// is the N-th address from the right of X-Forwarded-For: each proxy appends the peer it saw, and
// anything further left was written by the client and cannot be trusted. With 0, the header is
// ignored: anyone could send it. The socket's own address costs a system call, so the caller asks
// for it only when the header does not give the client.

import { isIP } from 'node:net';

/** Whether `text` is a dotted IPv4 address as node:net defines it (no leading zeros), without its regular expression. */
function isDottedQuad(text: string): boolean {
  let parts = 0;
  let digits = 0;
  let value = 0;
  for (let i = 0; i <= text.length; i++) {
    const code = i === text.length ? 0x2e : text.charCodeAt(i);
    if (code === 0x2e) {
      if (digits === 0 || value > 255 || ++parts > 4) return false;
      digits = value = 0;
    } else if (code >= 0x30 && code <= 0x39) {
      if (digits === 1 && value === 0) return false; // no leading zeros
      value = value * 10 + code - 0x30;
      if (++digits > 3) return false;
    } else {
      return false;
    }
  }
  return parts === 4;
}

/** node:net's isIP, with a cheaper first look for the common case. */
function isAddress(text: string): boolean {
  return isDottedQuad(text) || isIP(text) !== 0;
}

/** The client X-Forwarded-For names behind `trustedHops` proxies, or undefined when it names none. */
export function forwardedClient(forwardedFor: string, trustedHops: number): string | undefined {
  if (trustedHops === 0 || forwardedFor === '') return undefined;
  if (trustedHops === 1) {
    // Behind one load balancer, the usual case: the last entry, found without splitting the header.
    const last = forwardedFor.slice(forwardedFor.lastIndexOf(',') + 1).trim();
    if (last !== '') return isAddress(last) ? last : undefined;
  }
  const hops = forwardedFor
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  const candidate = hops[Math.max(0, hops.length - trustedHops)];
  return candidate && isAddress(candidate) ? candidate : undefined;
}
