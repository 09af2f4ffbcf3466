// The client's address as text. uWS reports IPv4 peers of a dual-stack socket as IPv4-mapped IPv6
// in full form (0000:…:ffff:7f00:0001); consumers expect the dotted form.

import { NATIVE_UWS, type HttpResponse } from './uws';

const MAPPED_PREFIX = '0000:0000:0000:0000:0000:ffff:';

/** The pure-Node fallback does not implement getRemoteAddress*; it wraps a node:http response. */
function fallbackAddress(res: HttpResponse): string {
  const address = (res as unknown as { response?: { socket?: { remoteAddress?: string } } }).response?.socket?.remoteAddress ?? '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

export function clientAddress(res: HttpResponse): string {
  if (!NATIVE_UWS) return fallbackAddress(res);
  const text = Buffer.from(res.getRemoteAddressAsText()).toString('latin1');
  if (!text.startsWith(MAPPED_PREFIX)) return text;
  const high = parseInt(text.slice(MAPPED_PREFIX.length, MAPPED_PREFIX.length + 4), 16);
  const low = parseInt(text.slice(MAPPED_PREFIX.length + 5), 16);
  return `${high >>> 8}.${high & 0xff}.${low >>> 8}.${low & 0xff}`;
}
