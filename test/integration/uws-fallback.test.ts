// The uWS package silently falls back to a slow pure-Node server when its native binary does not
// load; UWS_USE_FALLBACK=1 makes it take that path on purpose, as a missing binary would.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { post, runCli, startGateway, tapStream } from '../support/processes';

describe('uWebSockets.js native binary detection', () => {
  it('runs on the native binary normally', async () => {
    const gateway = await startGateway();
    try {
      assert.equal(gateway.logs.find((l) => typeof l.port === 'number')?.nativeUws, true);
    } finally {
      await gateway.kill('SIGINT');
    }
  });

  it('refuses to start on the fallback, saying why and how to override', async () => {
    const running = runCli(['serve', '--port', '0', '--admin-port', '0', '--local-kinesis-port', '0'], { UWS_USE_FALLBACK: '1' });
    const exit = await running.exited;
    assert.equal(exit.code, 1);
    const said = running.stderr.join('\n');
    assert.match(said, /could not load its native binary/);
    assert.match(said, /--allow-uws-fallback/);
    assert.ok(!running.logs.some((l) => l.kinesisEndpoint), 'nothing was started');
  });

  it('starts on the fallback only with --allow-uws-fallback, and still delivers', async () => {
    const gateway = await startGateway(['--allow-uws-fallback', '--stream', 'slow'], { UWS_USE_FALLBACK: '1' });
    try {
      assert.equal(gateway.logs.find((l) => typeof l.port === 'number')?.nativeUws, false);
      assert.ok(gateway.logs.some((l) => l.level === 40 && /pure-Node server/.test(l.msg)), 'a warning says it is slow');
      assert.equal((await post(gateway.url('/v1/events'), '{"via":"fallback"}')).status, 202);
      // The fallback's router does not strip query strings: GET /v1/pixel.gif?… is not found on it.
      assert.equal((await fetch(gateway.url('/v1/pixel.gif?via=pixel'))).status, 404);
      assert.equal((await fetch(gateway.url('/healthz'))).status, 200, 'and the process is still up');
      const envelopes = await tapStream(gateway.kinesisEndpoint, 'slow');
      assert.deepEqual(envelopes.map((e) => [e.event, e.ip]), [[{ via: 'fallback' }, '127.0.0.1']]);
    } finally {
      await gateway.kill('SIGINT');
    }
  });
});
