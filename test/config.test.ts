import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, helpText, parseOptions, SERVE_SCHEMA, TAP_SCHEMA } from '../src/config';

function problems(argv: string[], env: Record<string, string> = {}): readonly string[] {
  try {
    parseOptions(SERVE_SCHEMA, argv, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

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
      assert.ok(at >= 0 && entry.includes(`default: ${config[key] === undefined ? 'unset' : String(config[key])}; env:`), `--${spec.flag}: the help shows its applied default ${String(config[key])}: ${entry}`);
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
