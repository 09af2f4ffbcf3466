import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkEntry, ENTRY_HEADER_BYTES, MAGIC, nextMarker, sealEntry } from '../../src/spool/spool-format';

function entry(key: string, data: string): Buffer {
  const recordBytes = 6 + key.length + data.length;
  const bytes = Buffer.alloc(ENTRY_HEADER_BYTES + recordBytes);
  bytes.writeUInt32LE(recordBytes, 8);
  bytes.writeUInt16LE(key.length, 12);
  bytes.write(key + data, 14, 'utf8');
  sealEntry(bytes, 0);
  return bytes;
}

describe('spool entry format', () => {
  it('reads back a sealed entry, and says when more bytes are needed', () => {
    const bytes = entry('k1', '{"id":"x","event":{"a":"é"}}');
    assert.equal(bytes.readUInt32LE(0), MAGIC);
    assert.equal(bytes[0], 0xf5, 'the marker starts with a byte UTF-8 never uses');
    assert.deepEqual(checkEntry(bytes, 0, bytes.length), { kind: 'entry', recordBytes: bytes.length - 8, keyBytes: 2 });
    assert.deepEqual(checkEntry(bytes, 0, bytes.length - 1), { kind: 'incomplete' });
    assert.deepEqual(checkEntry(bytes, 0, 10), { kind: 'incomplete' });
  });

  it('finds damage anywhere in an entry: any flipped byte fails it', () => {
    const clean = entry('', '{"id":"0190","receivedAt":1,"event":{"n":12345}}');
    for (let i = 0; i < clean.length; i++) {
      const bytes = Buffer.from(clean);
      bytes[i] ^= 0x5a;
      const check = checkEntry(bytes, 0, bytes.length);
      assert.notEqual(check.kind, 'entry', `flipping byte ${i} went unnoticed`);
    }
  });

  it('finds the next entry after damage by its marker', () => {
    const first = entry('', '{"a":1}');
    const second = entry('', '{"b":2}');
    const bytes = Buffer.concat([first, second]);
    bytes[3] ^= 0xff; // the first marker
    assert.equal(checkEntry(bytes, 0, bytes.length).kind, 'damaged');
    assert.equal(nextMarker(bytes, 0, bytes.length), first.length);
    assert.equal(checkEntry(bytes, first.length, bytes.length).kind, 'entry');
    assert.equal(nextMarker(bytes, first.length, bytes.length), bytes.length, 'no marker after the last entry');
  });
});
