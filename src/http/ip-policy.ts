// What of a client's address is stored with its events (--ip-policy): addresses are personal data,
// and the network is often all an analysis needs. Rate limits still see the whole address.

import { isIPv4, isIPv6 } from 'node:net';

export const IP_POLICIES = ['keep', 'truncate', 'drop'] as const;
export type IpPolicy = (typeof IP_POLICIES)[number];

/** IPv4 to its /24: the last byte zeroed. */
function truncateIPv4(ip: string): string {
  return `${ip.slice(0, ip.lastIndexOf('.'))}.0`;
}

/** The eight groups of an IPv6 address, `::` expanded (an embedded IPv4 tail counts as two). */
function ipv6Groups(ip: string): string[] {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const part = (text: string | undefined) => (text ? text.split(':') : []);
  const left = part(head);
  const right = part(tail);
  const width = (groups: string[]) => groups.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const zeros = tail === undefined ? [] : Array(8 - width(left) - width(right)).fill('0');
  return [...left, ...zeros, ...right];
}

/** IPv6 to its /48: the first three groups; an IPv4-mapped address is truncated as IPv4. */
function truncateIPv6(ip: string): string {
  const groups = ipv6Groups(ip);
  const last = groups[groups.length - 1];
  if (last.includes('.') && groups.slice(0, -2).every((g) => /^0+$/.test(g)) && /^ffff$/i.test(groups[groups.length - 2])) {
    return `::ffff:${truncateIPv4(last)}`;
  }
  return `${groups
    .slice(0, 3)
    .map((g) => g.replace(/^0+(?=.)/, '').toLowerCase())
    .join(':')}::`;
}

/** The address as the policy stores it; anything that is not an address is dropped under truncate. */
export function storedAddress(ip: string, policy: IpPolicy): string {
  if (policy === 'keep') return ip;
  if (policy === 'drop') return '';
  if (isIPv4(ip)) return truncateIPv4(ip);
  if (isIPv6(ip)) return truncateIPv6(ip);
  return '';
}
