// The client's IP as the envelope records it. Behind N trusted proxies (an ELB is one), the client
// is the N-th address from the right of X-Forwarded-For: each proxy appends the peer it saw, and
// anything further left was written by the client and cannot be trusted. With 0, the header is
// ignored: anyone could send it. The socket's own address costs a system call, so it is asked for
// only when the header does not give the client.

import { isIP } from 'node:net';

export function clientIp(socketAddress: () => string, forwardedFor: string, trustedHops: number): string {
  if (trustedHops === 0 || forwardedFor === '') return socketAddress();
  const hops = forwardedFor.split(',').map((part) => part.trim()).filter(Boolean);
  const candidate = hops[Math.max(0, hops.length - trustedHops)];
  return candidate && isIP(candidate) ? candidate : socketAddress();
}
