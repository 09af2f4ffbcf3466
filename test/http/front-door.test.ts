import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { deflateSync, gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import type { RequestError } from '../../src/errors';
import { addressText } from '../../src/http/client-address';
import { forwardedClient } from '../../src/http/client-ip';
import { bodyEncoding, inflateBody } from '../../src/http/inflate';
import { PIXEL_GIF, pixelEvent } from '../../src/http/pixel';

describe('client IP behind proxies', () => {
  it('ignores X-Forwarded-For unless proxies are trusted', () => assert.equal(forwardedClient('1.2.3.4', 0), undefined));
  it('takes the N-th address from the right', () => {
    assert.equal(forwardedClient('6.6.6.6, 1.2.3.4, 5.6.7.8', 1), '5.6.7.8');
    assert.equal(forwardedClient('6.6.6.6, 1.2.3.4, 5.6.7.8', 2), '1.2.3.4');
    assert.equal(forwardedClient('6.6.6.6,1.2.3.4 ,  5.6.7.8 ', 1), '5.6.7.8');
  });
  it('skips empty entries', () => {
    assert.equal(forwardedClient('1.2.3.4, ', 1), '1.2.3.4');
    assert.equal(forwardedClient('6.6.6.6,, 1.2.3.4', 2), '6.6.6.6');
  });
  it('takes the leftmost when there are fewer addresses than hops', () => assert.equal(forwardedClient('1.2.3.4', 3), '1.2.3.4'));
  it('names no client when the header is missing or not an address', () => {
    assert.equal(forwardedClient('', 1), undefined);
    assert.equal(forwardedClient('unknown', 1), undefined);
    assert.equal(forwardedClient('1.2.3.4, unknown', 1), undefined);
  });
  it('accepts IPv6', () => assert.equal(forwardedClient('2001:db8::1', 1), '2001:db8::1'));
  it('accepts exactly what node:net calls an address', () => {
    const samples = [
      '0.0.0.0',
      '255.255.255.255',
      '256.1.1.1',
      '1.2.3',
      '1.2.3.4.5',
      '01.2.3.4',
      '1.02.3.4',
      '1.2.3.04',
      '1..3.4',
      '.1.2.3',
      '1.2.3.4.',
      '1.2.3.-4',
      '1.2.3.4a',
      '١.2.3.4',
      '1.2.3.1000',
      '::1',
      '::ffff:1.2.3.4',
      'fe80::1%eth0',
      '1:2:3:4:5:6:7:8',
      '1:2:3:4:5:6:7:8:9',
      '1.2.3.4/24',
      '0x1.2.3.4',
    ];
    for (let i = 0; i < 2000; i++) samples.push(Array.from({ length: 1 + (i % 5) }, (_, j) => String((i * 7919 + j * 104729) % 300)).join('.'));
    for (const sample of samples) assert.equal(forwardedClient(sample, 1), isIP(sample) ? sample : undefined, sample);
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
    assert.throws(
      () => inflateBody(bomb, 'gzip', 64 * 1024, 100_000),
      (err: RequestError) => err.status === 413 && /limit of 65536 bytes/.test(err.message),
    );
  });
  it('refuses a body that inflates past the ratio with 413', () => {
    const bomb = gzipSync(Buffer.alloc(1 << 20));
    assert.throws(
      () => inflateBody(bomb, 'gzip', 64 << 20, 100),
      (err: RequestError) => err.status === 413 && /100 times its compressed size/.test(err.message),
    );
  });
  it('refuses data that is not what its encoding says with 400', () => {
    assert.throws(
      () => inflateBody(body, 'gzip', 1 << 20, 100),
      (err: RequestError) => err.code === 'bad_encoding' && err.status === 400,
    );
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
    assert.deepEqual(JSON.parse(pixelEvent('e=page_view&tag=a&tag=b&tag=c&u=%C3%A9t%C3%A9&sp=a+b').toString()), {
      e: 'page_view',
      tag: ['a', 'b', 'c'],
      u: 'été',
      sp: 'a b',
    });
    assert.deepEqual(JSON.parse(pixelEvent('').toString()), {});
  });
});
