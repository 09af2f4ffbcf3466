import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_MEMORY_RECORD_TTL_MS,
  effectiveRecordTtlMs,
  helpText,
  parseOptions,
  REPLAY_SCHEMA,
  SERVE_SCHEMA,
  TAP_SCHEMA,
  type ReplayConfig,
  type ServeConfig,
  type TapConfig,
} from '../src/config';
import { ConfigError } from '../src/errors';

type AnySchema = typeof SERVE_SCHEMA | typeof TAP_SCHEMA | typeof REPLAY_SCHEMA;

function problems(argv: string[], env: Record<string, string> = {}, schema: AnySchema = SERVE_SCHEMA): readonly string[] {
  try {
    parseOptions(schema, argv, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

/** True only when A and B are the same type: a check the compiler makes. */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

describe('serve configuration', () => {
  it('has the documented defaults', () => {
    const config = parseOptions(SERVE_SCHEMA, [], {});
    assert.equal(config.port, 8080);
    assert.equal(config.adminPort, 9464);
    assert.equal(config.stream, 'events');
    assert.equal(config.ringBytes, 64 * 1024 * 1024);
    assert.equal(config.maxBodyBytes, 1024 * 1024);
    assert.equal(config.lingerMs, 50);
    assert.equal(config.localKinesisPort, 4567);
    assert.equal(config.localKinesisShards, 4);
    assert.equal(config.kinesisEndpoint, undefined);
    assert.equal(config.region, undefined);
    assert.equal(config.allowUwsFallback, false);
    assert.ok(Object.isFrozen(config));
  });

  it('takes flags in both forms, sizes with units, and booleans', () => {
    const config = parseOptions(SERVE_SCHEMA, ['--port', '9000', '--ring-bytes=8MiB', '--max-body-bytes', '512k', '--allow-uws-fallback'], {});
    assert.equal(config.port, 9000);
    assert.equal(config.ringBytes, 8 * 1024 * 1024);
    assert.equal(config.maxBodyBytes, 512 * 1024);
    assert.equal(config.allowUwsFallback, true);
  });

  it('reads GATEWAY_* and the standard AWS variables; flags win', () => {
    const env = { GATEWAY_PORT: '7000', GATEWAY_STREAM: 'clicks', AWS_ENDPOINT_URL_KINESIS: 'http://127.0.0.1:4567/', AWS_REGION: 'eu-west-1' };
    const config = parseOptions(SERVE_SCHEMA, ['--stream', 'views'], env);
    assert.equal(config.port, 7000);
    assert.equal(config.stream, 'views');
    assert.equal(config.kinesisEndpoint, 'http://127.0.0.1:4567');
    assert.equal(config.region, 'eu-west-1');
  });

  it('prefers GATEWAY_KINESIS_ENDPOINT over AWS_ENDPOINT_URL_KINESIS over AWS_ENDPOINT_URL', () => {
    const config = parseOptions(SERVE_SCHEMA, [], { AWS_ENDPOINT_URL: 'http://a:1', AWS_ENDPOINT_URL_KINESIS: 'http://b:2' });
    assert.equal(config.kinesisEndpoint, 'http://b:2');
  });

  it('lists every problem at once, each naming its source', () => {
    const found = problems(['--port', '70000', '--workers=0', '--bogus', 'stray', '--stream'], { GATEWAY_LINGER_MS: 'soon', GATEWAY_RING_BYTES: '3 parsecs' });
    assert.deepEqual(found, [
      'unknown option --bogus',
      'unexpected argument "stray"',
      '--stream needs a value',
      '--port: must be at most 65535, got "70000"',
      'GATEWAY_RING_BYTES: expected a size such as 65536, 512KiB or 64MiB, got "3 parsecs"',
      '--workers: must be at least 1, got "0"',
      'GATEWAY_LINGER_MS: expected a whole number, got "soon"',
    ]);
  });

  it('refuses endpoints that are not http(s) URLs and unknown log levels', () => {
    assert.deepEqual(problems(['--kinesis-endpoint', 'ftp://x', '--log-level', 'loud']), [
      '--kinesis-endpoint: expected an http:// or https:// URL, got "ftp://x"',
      '--log-level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ]);
  });

  it('--help shows the default each option really gets, and a sentence for each', () => {
    const text = helpText('serve', SERVE_SCHEMA);
    const config: Record<string, unknown> = parseOptions(SERVE_SCHEMA, [], {});
    for (const [key, spec] of Object.entries(SERVE_SCHEMA)) {
      // What the parser applies with no flag and no variable is what the help promises.
      const at = text.indexOf(`  --${spec.flag}`);
      const entry = text.slice(at, text.indexOf('\n  --', at + 1) >>> 0);
      assert.ok(
        at >= 0 && entry.includes(`default: ${config[key] === undefined ? 'unset' : String(config[key])}; env:`),
        `--${spec.flag}: the help shows its applied default ${String(config[key])}: ${entry}`,
      );
      assert.ok(spec.help.length > 10, `--${spec.flag} says what it does`);
    }
    assert.match(text, /--port <integer>\n.*\n\s+default: 8080; env: GATEWAY_PORT/);
    assert.match(text, /--allow-uws-fallback\n/, 'a boolean takes no value');
    assert.match(text, /--durability <memory\|disk>\n/, 'an enum lists its choices');
    assert.match(text, /env: GATEWAY_KINESIS_ENDPOINT, AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL/);
  });

  it('gives tap its own options', () => {
    const config = parseOptions(TAP_SCHEMA, ['--endpoint', 'http://127.0.0.1:4567', '--idle-exit', '3', '--from', 'latest'], {});
    assert.equal(config.idleExit, 3);
    assert.equal(config.from, 'latest');
  });
});

describe('serve configuration: values at their edges', () => {
  const parse = (argv: string[], env: Record<string, string> = {}) => parseOptions(SERVE_SCHEMA, argv, env);

  it('takes a boolean as true, 1, false or 0 from a variable or after =, --no-<flag> too, and nothing else', () => {
    for (const [raw, value] of [
      ['true', true],
      ['1', true],
      ['false', false],
      ['0', false],
    ] as const) {
      assert.equal(parse([], { GATEWAY_ALLOW_UWS_FALLBACK: raw }).allowUwsFallback, value, raw);
      assert.equal(parse([`--allow-uws-fallback=${raw}`]).allowUwsFallback, value, raw);
    }
    assert.equal(parse(['--no-allow-uws-fallback'], { GATEWAY_ALLOW_UWS_FALLBACK: 'true' }).allowUwsFallback, false);
    assert.deepEqual(problems([], { GATEWAY_ALLOW_UWS_FALLBACK: 'yes' }), ['GATEWAY_ALLOW_UWS_FALLBACK: expected true or false, got "yes"']);
    assert.deepEqual(
      problems(['--no-port', '--no-such', '--on-allow-uws-fallback']),
      ['unknown option --no-port', 'unknown option --no-such', 'unknown option --on-allow-uws-fallback'],
      '--no- is for booleans only',
    );
  });

  it('reads a size or an integer whole, spaces around it aside', () => {
    assert.equal(parse(['--ring-bytes', ' 8MiB ']).ringBytes, 8 * 1024 * 1024);
    assert.equal(parse(['--port', ' 80 ']).port, 80);
    assert.deepEqual(problems(['--ring-bytes', 'x8MiB', '--max-body-bytes', '8KiB!', '--port', '8k', '--linger-ms', '5x', '--workers', 'x5']).slice().sort(), [
      '--linger-ms: expected a whole number, got "5x"',
      '--max-body-bytes: expected a size such as 65536, 512KiB or 64MiB, got "8KiB!"',
      '--port: expected a whole number, got "8k"',
      '--ring-bytes: expected a size such as 65536, 512KiB or 64MiB, got "x8MiB"',
      '--workers: expected a whole number, got "x5"',
    ]);
  });

  it('takes gigabytes in each spelling', () => {
    for (const unit of ['g', 'gb', 'GiB']) assert.equal(parse(['--spool-max-bytes', `2${unit}`]).spoolMaxBytes, 2 * 1024 ** 3, unit);
  });

  it('takes the exact min and max of a range, and refuses one past either', () => {
    assert.equal(parse(['--port', '0']).port, 0);
    assert.equal(parse(['--port', '65535']).port, 65535);
    assert.equal(parse(['--ring-bytes', '64KiB']).ringBytes, 64 * 1024);
    assert.equal(parse(['--max-header-bytes', '32KiB']).maxHeaderBytes, 32 * 1024);
    assert.equal(parse(['--max-url-bytes', '16KiB']).maxUrlBytes, 16 * 1024);
    assert.deepEqual(problems(['--port', '-1', '--ring-bytes', '65535', '--max-header-bytes', '32769', '--max-url-bytes', '16385']).slice().sort(), [
      '--max-header-bytes: must be at most 32768, got "32769"',
      '--max-url-bytes: must be at most 16384, got "16385"',
      '--port: must be at least 0, got "-1"',
      '--ring-bytes: must be at least 65536, got "65535"',
    ]);
  });

  it('keeps http and https endpoints without their trailing slashes, and refuses what is not a URL', () => {
    assert.equal(parse(['--kinesis-endpoint', 'https://kinesis.eu-west-1.amazonaws.com///']).kinesisEndpoint, 'https://kinesis.eu-west-1.amazonaws.com');
    assert.equal(parse(['--kinesis-endpoint', 'http://127.0.0.1:4567/']).kinesisEndpoint, 'http://127.0.0.1:4567');
    assert.deepEqual(problems(['--kinesis-endpoint', 'not a url']), ['--kinesis-endpoint: expected a URL, got "not a url"']);
  });

  it("refuses an empty string and a value outside the option's pattern; an empty variable counts as unset", () => {
    assert.deepEqual(problems(['--stream=', '--partition-key', 'userId']), [
      '--stream: must not be empty, got ""',
      '--partition-key: expected random or field:<json.path> (for example field:userId), got "userId"',
    ]);
    const config = parse([], { GATEWAY_STREAM: '', AWS_REGION: '', AWS_DEFAULT_REGION: 'eu-central-1' });
    assert.equal(config.stream, 'events');
    assert.equal(config.region, 'eu-central-1');
  });

  it('refuses text around a flag, and does not take the next flag as a value', () => {
    assert.deepEqual(problems(['x--port=1', '--port!', '--stream', '--port', '1']), [
      'unexpected argument "x--port=1"',
      'unexpected argument "--port!"',
      '--stream needs a value',
    ]);
  });

  it('says every problem in one error', () => {
    try {
      parse(['--bogus', '--port', 'x']);
      assert.fail('expected a ConfigError');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.name, 'ConfigError');
      assert.equal(err.message, 'invalid configuration:\n  - unknown option --bogus\n  - --port: expected a whole number, got "x"');
    }
  });

  it('puts each option of --help on lines of its own, with the kind of value it takes', () => {
    const text = helpText('serve', SERVE_SCHEMA);
    assert.match(text, /\n {2}--region <string>\n/);
    assert.match(text, /\n {2}--stream <string>\n/);
    assert.equal(text.split('\n  --').length - 1, Object.keys(SERVE_SCHEMA).length);
  });

  it('gives events a TTL in memory by default, none with a spool, and the one asked for', () => {
    assert.equal(effectiveRecordTtlMs({ recordTtlMs: undefined, spoolDir: undefined }), DEFAULT_MEMORY_RECORD_TTL_MS);
    assert.equal(effectiveRecordTtlMs({ recordTtlMs: undefined, spoolDir: '/var/spool' }), Number.POSITIVE_INFINITY);
    assert.equal(effectiveRecordTtlMs({ recordTtlMs: 5000, spoolDir: '/var/spool' }), 5000);
  });
});

describe('rules across options', () => {
  const DISK_NEEDS_DIR = '--durability disk needs --spool-dir: the directory the events are synced to before they are acknowledged';

  it('refuses --durability disk without --spool-dir, from flags or variables', () => {
    assert.deepEqual(problems(['--durability', 'disk']), [DISK_NEEDS_DIR]);
    assert.deepEqual(problems([], { GATEWAY_DURABILITY: 'disk' }), [DISK_NEEDS_DIR]);
    assert.equal(parseOptions(SERVE_SCHEMA, ['--durability', 'disk', '--spool-dir', '/var/spool'], {}).durability, 'disk');
    assert.equal(parseOptions(SERVE_SCHEMA, [], { GATEWAY_DURABILITY: 'disk', GATEWAY_SPOOL_DIR: '/var/spool' }).spoolDir, '/var/spool');
    assert.equal(parseOptions(SERVE_SCHEMA, ['--spool-dir', '/var/spool'], {}).durability, 'memory', 'a spool without disk durability is overflow only');
  });

  it('lists a broken rule with the other problems, and checks a rule only when its options parsed', () => {
    assert.deepEqual(problems(['--durability', 'disk', '--port', 'x']), ['--port: expected a whole number, got "x"', DISK_NEEDS_DIR]);
    assert.deepEqual(problems(['--durability', 'disc']), ['--durability: expected one of memory, disk, got "disc"']);
    assert.deepEqual(problems(['--durability', 'disk', '--spool-dir=']), ['--spool-dir: must not be empty, got ""']);
  });

  it("says the ConfigError's code and every problem in its message", () => {
    try {
      parseOptions(SERVE_SCHEMA, ['--durability', 'disk'], {});
      assert.fail('expected a ConfigError');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.code, 'invalid_config');
      assert.equal(err.message, `invalid configuration:\n  - ${DISK_NEEDS_DIR}`);
    }
  });

  for (const [command, schema] of [
    ['tap', TAP_SCHEMA],
    ['replay', REPLAY_SCHEMA],
  ] as const) {
    it(`refuses ${command} without --endpoint or --region, and takes either, from flags or variables`, () => {
      assert.deepEqual(problems([], {}, schema), [`${command} needs --endpoint or --region (or AWS_ENDPOINT_URL_KINESIS / AWS_REGION)`]);
      assert.equal(parseOptions(schema, ['--endpoint', 'http://127.0.0.1:4567'], {}).endpoint, 'http://127.0.0.1:4567');
      assert.equal(parseOptions(schema, ['--region', 'eu-west-1'], {}).region, 'eu-west-1');
      assert.equal(parseOptions(schema, [], { AWS_ENDPOINT_URL_KINESIS: 'http://127.0.0.1:4567' }).endpoint, 'http://127.0.0.1:4567');
      assert.equal(parseOptions(schema, [], { AWS_REGION: 'eu-west-1' }).region, 'eu-west-1');
      const badEndpoint = problems(['--endpoint', 'ftp://x'], {}, schema);
      assert.deepEqual(badEndpoint, ['--endpoint: expected an http:// or https:// URL, got "ftp://x"'], 'a bad endpoint is one problem, not two');
    });
  }

  it('keeps the rules out of the option list that help and docs walk', () => {
    for (const schema of [SERVE_SCHEMA, TAP_SCHEMA, REPLAY_SCHEMA]) {
      for (const [key, spec] of Object.entries(schema)) assert.equal(typeof spec.flag, 'string', key);
    }
    assert.equal(Object.keys(SERVE_SCHEMA).length, helpText('serve', SERVE_SCHEMA).split('\n  --').length - 1);
  });
});

describe('option types', () => {
  it('types each enum option as the union of its choices', () => {
    const checks: true[] = [
      true satisfies Same<ServeConfig['durability'], 'memory' | 'disk'>,
      true satisfies Same<ServeConfig['aggregation'], 'on' | 'off'>,
      true satisfies Same<ServeConfig['logLevel'], 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'>,
      true satisfies Same<TapConfig['from'], 'trim-horizon' | 'latest'>,
      true satisfies Same<ReplayConfig['aggregation'], 'on' | 'off'>,
    ];
    assert.equal(checks.length, 5);
    const config = parseOptions(SERVE_SCHEMA, ['--aggregation', 'off', '--log-level', 'warn'], {});
    assert.deepEqual([config.aggregation, config.logLevel, config.durability], ['off', 'warn', 'memory']);
  });
});
