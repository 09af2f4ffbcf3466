import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestError } from '../../src/errors';
import { EventSpans, scanEvents, type BodyFormat } from '../../src/events/json-scan';

function events(body: string | Uint8Array, format: BodyFormat = 'auto', depth = 32): string[] {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const spans = new EventSpans();
  scanEvents(bytes, format, depth, spans);
  return spans.starts.map((start, i) => Buffer.from(bytes.subarray(start, spans.ends[i])).toString());
}

function refusal(body: string | Uint8Array, format: BodyFormat = 'auto', depth = 32): RequestError {
  try {
    events(body, format, depth);
  } catch (err) {
    assert.ok(err instanceof RequestError, `expected a RequestError, got ${err}`);
    return err;
  }
  assert.fail(`expected ${JSON.stringify(String(body))} to be refused`);
}

/** The reference: strict UTF-8 decoding, JSON.parse, and our depth rule (the event object is level 1). */
function referenceAccepts(bytes: Uint8Array, depth: number): boolean {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return false;
  }
  const depthOf = (v: unknown): number => (v !== null && typeof v === 'object' ? 1 + Math.max(0, ...Object.values(v as object).map(depthOf)) : 0);
  return value !== null && typeof value === 'object' && !Array.isArray(value) && depthOf(value) <= depth;
}

describe('scanEvents: body shapes', () => {
  it('finds one object', () => assert.deepEqual(events('{"a":1}', 'json'), ['{"a":1}']));
  it('finds the objects of an array, without the whitespace around them', () =>
    assert.deepEqual(events(' [ {"a":1} ,\n{"b":[2,3]} ] ', 'json'), ['{"a":1}', '{"b":[2,3]}']));
  it('finds NDJSON lines, tolerating CRLF and blank lines', () => assert.deepEqual(events('{"a":1}\r\n\n{"b":2}\n', 'ndjson'), ['{"a":1}', '{"b":2}']));
  it('reads a text/plain beacon as JSON or NDJSON', () => {
    assert.deepEqual(events('[{"a":1},{"b":2}]', 'auto'), ['{"a":1}', '{"b":2}']);
    assert.deepEqual(events('{"a":1}\n{"b":2}', 'auto'), ['{"a":1}', '{"b":2}']);
  });
  it('keeps escapes, unicode and numbers as sent', () => {
    const body = '{"s":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9","u":"ünï 😀","n":[-0,1.5e-3,2E+10,0.25]}';
    assert.deepEqual(events(body, 'json'), [body]);
  });
});

describe('scanEvents: refusals', () => {
  const cases: [string, string | Uint8Array, BodyFormat, string, RegExp][] = [
    ['empty body', '', 'json', 'empty_body', /no events/],
    ['whitespace only', ' \n ', 'ndjson', 'empty_body', /no events/],
    ['empty array', '[]', 'json', 'empty_body', /no events/],
    ['truncated object', '{"a":1', 'json', 'malformed_json', /^event 0: /],
    ['trailing comma', '{"a":1,}', 'json', 'malformed_json', /event 0/],
    ['single quotes', "{'a':1}", 'json', 'malformed_json', /event 0/],
    ['bad literal', '{"a":tru}', 'json', 'malformed_json', /event 0/],
    ['leading zero', '{"a":01}', 'json', 'malformed_json', /event 0/],
    ['bad escape', '{"a":"\\x"}', 'json', 'malformed_json', /bad escape/],
    ['raw control character', '{"a":"\u0001"}', 'json', 'malformed_json', /control character/],
    ['second bad line of NDJSON', '{"a":1}\n{"b":}\n', 'ndjson', 'malformed_json', /^event 1: /],
    ['two objects on one NDJSON line', '{"a":1} {"b":2}', 'ndjson', 'malformed_json', /newline/],
    ['two objects as application/json', '{"a":1}\n{"b":2}', 'json', 'malformed_json', /after the event/],
    ['data after the array', '[{"a":1}] x', 'json', 'malformed_json', /after the array/],
    ['a number as an event', '42', 'json', 'not_an_object', /^event 0: expected a JSON object/],
    ['a string in an array', '[{"a":1},"x"]', 'json', 'not_an_object', /^event 1: /],
    ['an array in NDJSON', '{"a":1}\n[1]', 'ndjson', 'not_an_object', /^event 1: /],
    ['a lone continuation byte', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0x80, 0x22, 0x7d]), 'json', 'invalid_utf8', /UTF-8/],
    ['an overlong encoding', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc0, 0xaf, 0x22, 0x7d]), 'json', 'invalid_utf8', /UTF-8/],
    ['an encoded surrogate', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d]), 'json', 'invalid_utf8', /UTF-8/],
    ['a truncated sequence at the end', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xe2, 0x82]), 'json', 'invalid_utf8', /UTF-8/],
    ['a code point above U+10FFFF', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xf4, 0x90, 0x80, 0x80, 0x22, 0x7d]), 'json', 'invalid_utf8', /UTF-8/],
    ['nesting deeper than the limit', `${'{"a":'.repeat(33)}1${'}'.repeat(33)}`, 'json', 'too_deep', /deeper than 32/],
    ['200,000 levels of nesting', `{"a":${'['.repeat(200_000)}${']'.repeat(200_000)}}`, 'json', 'too_deep', /deeper than 32/],
  ];
  for (const [name, body, format, code, message] of cases) {
    it(`refuses ${name} with ${code}`, () => {
      const error = refusal(body, format);
      assert.equal(error.code, code);
      assert.match(error.message, message);
    });
  }

  it('accepts exactly the depth limit', () => {
    const body = `${'{"a":'.repeat(31)}{}${'}'.repeat(31)}`;
    assert.equal(events(body, 'json').length, 1);
  });
});

describe('scanEvents: what a refusal says', () => {
  it('names what is wrong, in which event, at which byte', () => {
    const cases: [string, BodyFormat, string][] = [
      ['{"a":"x', 'json', 'event 0: unterminated string at byte 7'],
      ['{"a":"\\u12"}', 'json', 'event 0: bad \\u escape at byte 6'],
      ['{"a":-}', 'json', 'event 0: bad number at byte 6'],
      ['{"a":1.}', 'json', 'event 0: bad number at byte 7'],
      ['{"a":1e}', 'json', 'event 0: bad number at byte 7'],
      ['{"a":tru', 'json', 'event 0: unexpected end at byte 5'],
      ['{"a":trux}', 'json', 'event 0: unexpected token at byte 5'],
      ['{"a":', 'json', 'event 0: unexpected end at byte 5'],
      ['{"a":+1}', 'json', 'event 0: unexpected character at byte 5'],
      ['{"a":x}', 'json', 'event 0: unexpected character at byte 5'],
      ['{"a":é}', 'json', 'event 0: unexpected character at byte 7'],
      ['{"a":1 "b":2}', 'json', "event 0: expected ',' or '}' at byte 7"],
      ['{"a":[1 2]}', 'json', "event 0: expected ',' or ']' at byte 8"],
      ['{1:2}', 'json', 'event 0: expected a string key at byte 1'],
      ['{"a" 1}', 'json', "event 0: expected ':' at byte 5"],
      ['[{"a":1},{"b":x}]', 'json', 'event 1: unexpected character at byte 14'],
    ];
    for (const [body, format, message] of cases) {
      const error = refusal(body, format);
      assert.deepEqual([error.code, error.message], ['malformed_json', message], body);
    }
  });

  it('reports a byte that cannot start UTF-8 as such, also outside a string', () => {
    for (const byte of [0x80, 0xff]) {
      const error = refusal(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, byte, 0x7d]), 'json');
      assert.deepEqual([error.code, error.message], ['invalid_utf8', `event 0: invalid UTF-8 byte 0x${byte.toString(16)} at byte 5`]);
    }
  });

  it('reads an NDJSON body that starts with an array as one event, which is not an object', () => {
    assert.equal(refusal('[{"a":1}]', 'ndjson').code, 'not_an_object');
  });

  it('reads a literal that ends the body whole, then refuses it as not an object', () => {
    for (const literal of ['true', 'false', 'null']) assert.equal(refusal(`{"a":1}\n${literal}`, 'ndjson').message, 'event 1: expected a JSON object');
  });
});

describe('scanEvents: the edges of what is valid', () => {
  it('skips every kind of JSON whitespace inside an event, and spaces, tabs and CRs after an NDJSON line', () => {
    assert.deepEqual(events('{\r"a"\t:\n1 }', 'json'), ['{\r"a"\t:\n1 }']);
    assert.deepEqual(events('{"a":1} \t\r\n{"b":2}\t \n', 'ndjson'), ['{"a":1}', '{"b":2}']);
  });

  it('takes upper- and lower-case hex digits in \\u escapes', () => {
    assert.equal(events('{"a":"\\u0AF0\\uabcd\\u9F9f"}', 'json').length, 1);
  });

  it('agrees with a strict UTF-8 decoder on every lead byte, the second bytes at each range edge, and each kind of tail', () => {
    const seconds = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff];
    const disagreements: string[] = [];
    for (let lead = 0x80; lead <= 0xff; lead++) {
      for (const second of seconds) {
        for (const tail of [
          [0x80, 0x80],
          [0xbf, 0x41],
          [0x80, 0xc0],
          [0x41, 0x41],
        ]) {
          const body = Buffer.from([...Buffer.from('{"a":"'), lead, second, ...tail, ...Buffer.from('"}')]);
          let ours = true;
          try {
            events(body, 'json');
          } catch {
            ours = false;
          }
          if (ours !== referenceAccepts(body, 32)) disagreements.push(body.subarray(6, 10).toString('hex'));
        }
      }
    }
    assert.deepEqual(disagreements, []);
  });
});

describe('scanEvents agrees with TextDecoder(fatal) + JSON.parse', () => {
  const seeds = [
    '{"a":1,"b":[true,false,null],"c":{"d":"e\\u0041"},"f":-1.5e+2}',
    '{"ü":"😀","x":"\\ud83d\\ude00","y":[[],{}],"z":0.0}',
    '{"deep":{"a":{"b":{"c":[1,[2,[3]]]}}}}',
  ];
  const alphabet = Buffer.from('{}[]":,\\-+.0123456789eEtrufalsn \n\tu"x');
  const highBytes = [0x80, 0xbf, 0xc0, 0xc2, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];

  it('on 30,000 random mutations of valid events', () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    let accepted = 0;
    for (let i = 0; i < 30_000; i++) {
      const bytes = Buffer.from(seeds[i % seeds.length]);
      const mutations = 1 + Math.floor(random() * 3);
      let mutated: Buffer = bytes;
      for (let m = 0; m < mutations; m++) {
        const at = Math.floor(random() * mutated.length);
        const choice = random();
        const byte = random() < 0.8 ? alphabet[Math.floor(random() * alphabet.length)] : highBytes[Math.floor(random() * highBytes.length)];
        if (choice < 0.4) mutated[at] = byte;
        else if (choice < 0.7) mutated = Buffer.concat([mutated.subarray(0, at), Buffer.from([byte]), mutated.subarray(at)]);
        else mutated = Buffer.concat([mutated.subarray(0, at), mutated.subarray(at + 1)]);
      }
      const depth = 1 + Math.floor(random() * 6);
      const expected = referenceAccepts(mutated, depth);
      let actual = true;
      try {
        events(mutated, 'json', depth);
      } catch (err) {
        assert.ok(err instanceof RequestError);
        actual = false;
      }
      if (actual !== expected)
        assert.fail(`disagreement on ${JSON.stringify(mutated.toString('latin1'))} (depth ${depth}): ours ${actual}, reference ${expected}`);
      if (actual) accepted++;
    }
    assert.ok(accepted > 1000, `${accepted} mutations were valid, so both verdicts were exercised`);
  });
});
