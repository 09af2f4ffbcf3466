// Which uWebSockets.js build runs. The official build needs glibc 2.38 and Node 20/22/24/25; the
// legacy one runs Node 20 on older glibc; the pure-Node fallback runs anywhere, many times slower,
// and only when asked for. UWS_USE_FALLBACK=1 (the legacy package's own switch) forces the fallback,
// as a machine with neither binary would. CI says which build each of its runtimes must get
// (KG_EXPECT_UWS_BUILD), so that a silent change of build fails the suite.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareVersions, glibcVersion } from '../../src/http/uws';
import { metricsText, waitUntilShipped } from '../support/load';
import { post, runCli, startGateway, tapStream } from '../support/processes';

/** The build this process should load: what CI says, or what the platform allows. */
function expectedBuild(): string {
  if (process.env.KG_EXPECT_UWS_BUILD) return process.env.KG_EXPECT_UWS_BUILD;
  const glibc = glibcVersion();
  const officialAbis = ['115', '127', '137', '141'];
  if (officialAbis.includes(process.versions.modules) && (!glibc || compareVersions(glibc, '2.38') >= 0)) return 'official';
  return 'legacy';
}

describe('uWebSockets.js build', () => {
  it('runs on the native build this platform should get, and says which in its first log line and in gateway_build_info', async () => {
    const gateway = await startGateway();
    try {
      const expected = expectedBuild();
      const first = gateway.logs[0];
      assert.deepEqual(first.uws, { version: expected === 'official' ? '20.57.0' : '20.30.0', kind: expected, native: true });
      assert.equal(first.node, process.version);
      assert.match(first.msg, new RegExp(`^kinesis-gateway \\S+ on Node ${process.version} with uWebSockets\\.js \\S+ \\(${expected} build\\)`));
      const metrics = await metricsText(gateway);
      const info = metrics.split('\n').find((line) => line.startsWith('gateway_build_info{'));
      assert.match(
        info ?? '',
        new RegExp(`node="${process.version}",uws_version="${(first.uws as { version: string }).version}",uws_build="${expected}"\\} 1$`),
      );
      // On Node < 22 (past end of life) the gateway warns once in its log, in place of the AWS SDK's
      // warning per thread; on a supported Node neither warns.
      assert.doesNotMatch(gateway.stderr.join('\n'), /NodeVersionSupportWarning/);
      const endOfLife = gateway.logs.filter((l) => /is past its end of life/.test(l.msg));
      assert.equal(endOfLife.length, Number(process.versions.node.split('.')[0]) < 22 ? 1 : 0);
    } finally {
      await gateway.kill('SIGINT');
    }
  });

  it('refuses to start on the fallback, saying why and how to override', async () => {
    const running = runCli(['serve', '--port', '0', '--admin-port', '0', '--local-kinesis-port', '0'], { UWS_USE_FALLBACK: '1' });
    const exit = await running.exited;
    assert.equal(exit.code, 1);
    const said = running.stderr.join('\n');
    assert.match(said, /could not load a native binary for linux-x64, Node v\d+/);
    assert.match(said, /UWS_USE_FALLBACK is set/);
    assert.match(said, /Node 24 \(or 22\) on glibc 2\.38 or newer/);
    assert.match(said, /--allow-uws-fallback/);
    assert.ok(!running.logs.some((l) => l.kinesisEndpoint), 'nothing was started');
  });

  it('starts on the fallback only with --allow-uws-fallback, and still delivers', async () => {
    const gateway = await startGateway(['--allow-uws-fallback', '--stream', 'slow'], { UWS_USE_FALLBACK: '1' });
    try {
      assert.equal(gateway.logs.find((l) => typeof l.port === 'number')?.nativeUws, false);
      assert.equal((gateway.logs[0].uws as { kind: string }).kind, 'fallback');
      assert.ok(
        gateway.logs.some((l) => l.level === 40 && /pure-Node server/.test(l.msg)),
        'a warning says it is slow',
      );
      assert.equal((await post(gateway.url('/v1/events'), '{"via":"fallback"}')).status, 202);
      // The fallback's router does not strip query strings: GET /v1/pixel.gif?… is not found on it.
      assert.equal((await fetch(gateway.url('/v1/pixel.gif?via=pixel'))).status, 404);
      assert.equal((await fetch(gateway.url('/healthz'))).status, 200, 'and the process is still up');
      await waitUntilShipped(gateway);
      const envelopes = await tapStream(gateway.kinesisEndpoint, 'slow');
      assert.deepEqual(
        envelopes.map((e) => [e.event, e.ip]),
        [[{ via: 'fallback' }, '127.0.0.1']],
      );
    } finally {
      await gateway.kill('SIGINT');
    }
  });
});
