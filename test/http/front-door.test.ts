import assert from 'node:assert/strict';
import { deflateSync, gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { RequestError } from '../../src/errors';
import { addressText } from '../../src/http/client-address';
import { clientIp } from '../../src/http/client-ip';
import { bodyEncoding, inflateBody } from '../../src/http/inflate';
import { PIXEL_GIF, pixelEvent } from '../../src/http/pixel';

describe('client IP behind proxies', () => {
  const socket = () => '10.0.0.5';
  it('ignores X-Forwarded-For unless proxies are trusted', () => assert.equal(clientIp(socket, '1.2.3.4', 0), '10.0.0.5'));
  it('takes the N-th address from the right', () => {
    assert.equal(clientIp(socket, '6.6.6.6, 1.2.3.4, 5.6.7.8', 1), '5.6.7.8');
    assert.equal(clientIp(socket, '6.6.6.6, 1.2.3.4, 5.6.7.8', 2), '1.2.3.4');
  });
  it('takes the leftmost when there are fewer addresses than hops', () => assert.equal(clientIp(socket, '1.2.3.4', 3), '1.2.3.4'));
  it('keeps the socket address when the header is missing or not an address', () => {
    assert.equal(clientIp(socket, '', 1), '10.0.0.5');
    assert.equal(clientIp(socket, 'unknown', 1), '10.0.0.5');
  });
  it('accepts IPv6', () => assert.equal(clientIp(socket, '2001:db8::1', 1), '2001:db8::1'));
  it('does not read the socket address (a system call) when the header gives the client', () => {
    const unread = () => assert.fail('the socket address was read');
    assert.equal(clientIp(unread, '6.6.6.6, 5.6.7.8', 1), '5.6.7.8');
  });
});

describe('socket address as text', () => {
  it('writes IPv4 and IPv4-mapped IPv6 in dotted form', () => {
    assert.equal(addressText(new Uint8Array([10, 0, 200, 5])), '10.0.200.5');
    assert.equal(addressText(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1])), '127.0.0.1');
  });
  it('writes other IPv6 in full form', () => {
    assert.equal(addressText(new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])), '2001:0db8:0000:0000:0000:0000:0000:0001');
    assert.equal(addressText(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 127, 0, 0, 1])), '0000:0000:0000:0000:0000:00ff:7f00:0001');
  });
});

describe('compressed bodies', () => {
  const body = Buffer.from(JSON.stringify({ a: 'x'.repeat(1000) }));
  it('knows gzip, deflate and identity', () => {
    assert.deepEqual(['gzip', 'x-gzip', 'deflate', '', 'identity', 'br'].map(bodyEncoding), ['gzip', 'gzip', 'deflate', 'identity', 'identity', undefined]);
  });
  it('inflates gzip and deflate', () => {
    assert.deepEqual(inflateBody(gzipSync(body), 'gzip', 1 << 20, 100), body);
    assert.deepEqual(inflateBody(deflateSync(body), 'deflate', 1 << 20, 100), body);
  });
  it('refuses a body that inflates past the size limit with 413', () => {
    const bomb = gzipSync(Buffer.alloc(1 << 20));
    assert.throws(() => inflateBody(bomb, 'gzip', 64 * 1024, 100_000), (err: RequestError) => err.status === 413 && /limit of 65536 bytes/.test(err.message));
  });
  it('refuses a body that inflates past the ratio with 413', () => {
    const bomb = gzipSync(Buffer.alloc(1 << 20));
    assert.throws(() => inflateBody(bomb, 'gzip', 64 << 20, 100), (err: RequestError) => err.status === 413 && /100 times its compressed size/.test(err.message));
  });
  it('refuses data that is not what its encoding says with 400', () => {
    assert.throws(() => inflateBody(body, 'gzip', 1 << 20, 100), (err: RequestError) => err.code === 'bad_encoding' && err.status === 400);
  });
});

describe('the tracking pixel', () => {
  it('is a complete 1×1 transparent GIF', () => {
    assert.equal(PIXEL_GIF.subarray(0, 6).toString(), 'GIF89a');
    assert.deepEqual([PIXEL_GIF.readUInt16LE(6), PIXEL_GIF.readUInt16LE(8)], [1, 1], '1×1 logical screen');
    const control = PIXEL_GIF.indexOf(Buffer.from([0x21, 0xf9, 0x04])); // graphic control extension
    assert.ok(control > 0 && (PIXEL_GIF[control + 3] & 0x01) === 1, 'its one colour is transparent');
    const image = PIXEL_GIF.indexOf(0x2c, control + 8); // image descriptor
    assert.deepEqual([PIXEL_GIF.readUInt16LE(image + 5), PIXEL_GIF.readUInt16LE(image + 7)], [1, 1], 'one pixel of image data');
    assert.equal(PIXEL_GIF[PIXEL_GIF.length - 1], 0x3b, 'it ends with the trailer: a browser sees a whole image');
  });
  it('turns decoded query parameters into an event, repeated keys into arrays', () => {
    assert.deepEqual(JSON.parse(pixelEvent('e=page_view&tag=a&tag=b&tag=c&u=%C3%A9t%C3%A9&sp=a+b').toString()), { e: 'page_view', tag: ['a', 'b', 'c'], u: 'été', sp: 'a b' });
    assert.deepEqual(JSON.parse(pixelEvent('').toString()), {});
  });
});
