import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { storedAddress } from '../../src/http/ip-policy';

describe('--ip-policy', () => {
  it('keeps the address as it is by default', () => {
    assert.equal(storedAddress('203.0.113.7', 'keep'), '203.0.113.7');
    assert.equal(storedAddress('2001:db8::1', 'keep'), '2001:db8::1');
  });

  it('drops every address', () => {
    assert.equal(storedAddress('203.0.113.7', 'drop'), '');
    assert.equal(storedAddress('2001:db8::1', 'drop'), '');
  });

  const truncated: [string, string][] = [
    ['203.0.113.7', '203.0.113.0'],
    ['10.0.0.255', '10.0.0.0'],
    ['2001:db8:85a3:8d3:1319:8a2e:370:7348', '2001:db8:85a3::'],
    ['2001:0DB8:0001:ffff::1', '2001:db8:1::'],
    ['2001:db8::1', '2001:db8:0::'],
    ['::1', '0:0:0::'],
    ['fe80::', 'fe80:0:0::'],
    ['::ffff:198.51.100.23', '::ffff:198.51.100.0'],
    ['64:ff9b::198.51.100.23', '64:ff9b:0::'],
  ];
  for (const [address, network] of truncated) {
    it(`truncates ${address} to ${network}`, () => assert.equal(storedAddress(address, 'truncate'), network));
  }

  it('stores nothing it cannot read as an address under truncate', () => {
    assert.equal(storedAddress('unknown', 'truncate'), '');
    assert.equal(storedAddress('', 'truncate'), '');
  });
});
