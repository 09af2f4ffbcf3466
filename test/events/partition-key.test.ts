import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fieldPartitionKey, parsePartitionKeyRule } from '../../src/events/partition-key';

function key(event: string, option: string): string | undefined {
  const rule = parsePartitionKeyRule(option);
  assert.equal(rule.kind, 'field');
  const body = Buffer.from(`  ${event}`);
  return fieldPartitionKey(body, 2, rule.kind === 'field' ? rule.path : [])?.toString();
}

describe('--partition-key field:<path>', () => {
  it('takes a string field, skipping fields and values of every kind before it', () => {
    const event = '{"a":{"userId":"wrong"},"b":[1,{"c":"]}"}],"s":"x\\"y","n":-1.5e3,"t":true,"userId":"u-42"}';
    assert.equal(key(event, 'field:userId'), 'u-42');
  });
  it('follows a nested path', () => assert.equal(key('{"user" : { "id" : "abc" } }', 'field:user.id'), 'abc'));
  it('takes numbers as written', () => assert.equal(key('{"user":{"id":12345}}', 'field:user.id'), '12345'));
  it('unescapes strings', () => assert.equal(key('{"id":"a\\u00e9\\"b"}', 'field:id'), 'aé"b'));
  it('gives nothing for a missing field, another kind of value, an empty or an over-long string', () => {
    assert.equal(key('{"other":"x"}', 'field:userId'), undefined);
    assert.equal(key('{"userId":{"x":1}}', 'field:userId'), undefined);
    assert.equal(key('{"userId":null}', 'field:userId'), undefined);
    assert.equal(key('{"userId":""}', 'field:userId'), undefined);
    assert.equal(key(`{"userId":"${'x'.repeat(257)}"}`, 'field:userId'), undefined);
    assert.equal(key('{"user":"flat"}', 'field:user.id'), undefined);
    assert.equal(key('{"user":["id","x"]}', 'field:user.id'), undefined, 'an array is not an object with fields');
  });
  it('skips every kind of JSON whitespace between tokens', () => {
    for (const ws of [' ', '\n', '\r', '\t']) {
      assert.equal(key(`{${ws}"a"${ws}:${ws}1${ws},${ws}"userId"${ws}:${ws}"u"${ws}}`, 'field:userId'), 'u', JSON.stringify(ws));
    }
  });
  it('matches whole field names only', () => {
    assert.equal(key('{"userIdX":"no","userI":"no","abcdef":"no","userId":"yes"}', 'field:userId'), 'yes');
  });
  it('takes numbers from their first byte, a minus or a digit, and nothing else that is not a string', () => {
    for (const n of ['-7', '0', '9', '12.5e3']) assert.equal(key(`{"userId":${n}}`, 'field:userId'), n);
    for (const other of ['true', 'false', '[1]']) assert.equal(key(`{"userId":${other}}`, 'field:userId'), undefined, other);
  });
  it('takes a key of exactly 256 bytes', () => {
    const longest = 'k'.repeat(256);
    assert.equal(key(`{"userId":"${longest}"}`, 'field:userId'), longest);
  });
  it('skips a string value holding commas and braces', () => assert.equal(key('{"s":"a,b}c]","userId":"x"}', 'field:userId'), 'x'));
  it('parses the option, and refuses one it does not know', () => {
    assert.deepEqual(parsePartitionKeyRule('random'), { kind: 'random' });
    assert.deepEqual(parsePartitionKeyRule('field:a.b'), { kind: 'field', path: [Buffer.from('a'), Buffer.from('b')] });
    assert.throws(() => parsePartitionKeyRule('userId'), /bad --partition-key userId/);
  });
});
