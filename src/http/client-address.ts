// The client's address as text. uWS reads it with a getpeername system call on every call (the
// version we must use caches nothing: uNetworking/uWebSockets.js#1248), a microsecond or more: it
// is read only when needed, and in binary, which skips a second copy and a text conversion.

import { NATIVE_UWS, type HttpResponse } from './uws';

/** The pure-Node fallback does not implement getRemoteAddress*; it wraps a node:http response. */
function fallbackAddress(res: HttpResponse): string {
  const address = (res as unknown as { response?: { socket?: { remoteAddress?: string } } }).response?.socket?.remoteAddress ?? '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** IPv4, or IPv4-mapped IPv6 (how a dual-stack socket reports IPv4 peers), in dotted form; other IPv6 in full form. */
export function addressText(bytes: Uint8Array): string {
  const v4At = bytes.length === 4 ? 0 : isIpv4Mapped(bytes) ? 12 : -1;
  if (v4At >= 0) return `${bytes[v4At]}.${bytes[v4At + 1]}.${bytes[v4At + 2]}.${bytes[v4At + 3]}`;
  const groups: string[] = [];
  for (let i = 0; i + 1 < bytes.length; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16).padStart(4, '0'));
  return groups.join(':');
}

function isIpv4Mapped(bytes: Uint8Array): boolean {
  if (bytes.length !== 16 || bytes[10] !== 0xff || bytes[11] !== 0xff) return false;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return true;
}

export function clientAddress(res: HttpResponse): string {
  if (!NATIVE_UWS) return fallbackAddress(res);
  return addressText(new Uint8Array(res.getRemoteAddress()));
}
