import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ShardPacer } from '../../src/shipper/worker-thread/shard-pacer';

// The clock is injected: these check the arithmetic of pacing, not the machine's speed.
function pacerAt(share = 1) {
  let now = 0;
  const pacer = new ShardPacer(share, () => now);
  return { pacer, advance: (ms: number) => (now += ms) };
}

describe('ShardPacer', () => {
  it('lets a shard burst one second of its limit, then asks to wait for more', () => {
    const { pacer } = pacerAt();
    assert.equal(pacer.reserve('s', 1000, 1000), 0);
    assert.equal(Math.round(pacer.reserve('s', 500, 1000)), 500, '500 records over the limit wait half a second');
    assert.equal(pacer.reserve('other', 1000, 1000), 0, 'each shard has its own bucket');
  });

  it('limits bytes to 1 MiB per second', () => {
    const { pacer } = pacerAt();
    assert.equal(Math.round(pacer.reserve('s', 1, 2 * 1024 * 1024)), 1000);
  });

  it('refills with time', () => {
    const { pacer, advance } = pacerAt();
    pacer.reserve('s', 1000, 0);
    advance(250);
    assert.equal(pacer.reserve('s', 250, 0), 0);
  });

  it('paces a worker at its share', () => {
    const { pacer } = pacerAt(0.25);
    assert.equal(pacer.reserve('s', 250, 0), 0);
    assert.equal(Math.round(pacer.reserve('s', 250, 0)), 1000);
  });

  it('slows a throttled shard down and recovers once throttles stop', () => {
    const { pacer, advance } = pacerAt();
    pacer.throttled('s');
    pacer.throttled('s');
    assert.equal(pacer.rateFactor('s'), 0.25);
    assert.equal(pacer.rateFactor('t'), 1);
    advance(500);
    pacer.reserve('s', 0, 0);
    assert.equal(pacer.rateFactor('s'), 0.25, 'no recovery within a second of a throttle');
    advance(5000);
    pacer.reserve('s', 0, 0);
    assert.ok(pacer.rateFactor('s') > 0.7, `recovering: ${pacer.rateFactor('s')}`);
    advance(10_000);
    pacer.reserve('s', 0, 0);
    assert.equal(pacer.rateFactor('s'), 1);
  });
});
