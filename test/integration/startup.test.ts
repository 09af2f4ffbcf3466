// What serve says and does when its Kinesis or its ports are not as expected.

import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { envName, LOCAL_KINESIS_SCHEMA, SERVE_SCHEMA, TAP_SCHEMA } from '../../src/config';
import { freePort } from '../support/ports';
import { post, runCli, startLocalKinesis } from '../support/processes';

describe('start-up', () => {
  it('stops with a clear message when the stream does not exist', async () => {
    const kinesis = await startLocalKinesis('present', 1);
    try {
      const running = runCli(['serve', '--port', '0', '--admin-port', '0', '--kinesis-endpoint', kinesis.endpoint, '--stream', 'absent']);
      const exit = await running.exited;
      assert.equal(exit.code, 1);
      assert.match(running.stderr.join('\n'), /stream absent does not exist at http:\/\/127\.0\.0\.1:\d+; create it first/);
    } finally {
      await kinesis.kill();
    }
  });

  it('stays unready, refusing events with 503, while Kinesis cannot be reached', async () => {
    const deadPort = await freePort();
    const running = runCli(['serve', '--port', '0', '--admin-port', '0', '--host', '127.0.0.1', '--kinesis-endpoint', `http://127.0.0.1:${deadPort}`]);
    try {
      const listening = await running.waitForLog((l) => typeof l.port === 'number');
      await running.waitForLog((l) => /not reachable yet/.test(l.msg));
      const readiness = await fetch(`http://127.0.0.1:${listening.adminPort}/readyz`);
      assert.equal(readiness.status, 503);
      assert.deepEqual(await readiness.json(), { error: 'not_ready', message: 'the gateway is starting' });
      const answer = await post(`http://127.0.0.1:${listening.port}/v1/events`, '{"a":1}');
      assert.equal(answer.status, 503);
      assert.equal(answer.body.error, 'not_ready');
      assert.equal(answer.headers.get('retry-after'), '1');
    } finally {
      await running.kill('SIGKILL');
    }
  });

  it('refuses --durability disk without a spool directory, and a spool directory it cannot make', async () => {
    const noDir = runCli(['serve', '--port', '0', '--admin-port', '0', '--durability', 'disk']);
    assert.equal((await noDir.exited).code, 2, 'a bad option, like the others');
    assert.match(noDir.stderr.join('\n'), /--durability disk needs --spool-dir/);
    const badDir = runCli(['serve', '--port', '0', '--admin-port', '0', '--local-kinesis-port', '0', '--spool-dir', '/dev/null/spool']);
    assert.equal((await badDir.exited).code, 1);
    assert.match(badDir.stderr.join('\n'), /cannot open --spool-dir \/dev\/null\/spool: ENOTDIR/);
  });

  it('says which port is taken', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const running = runCli(['serve', '--port', '0', '--admin-port', '0', '--local-kinesis-port', String(port)]);
      assert.equal((await running.exited).code, 1);
      assert.match(running.stderr.join('\n'), new RegExp(`port ${port} is already in use`));
    } finally {
      taken.close();
    }
  });

  for (const [what, flag] of [
    ['events', '--port'],
    ['admin', '--admin-port'],
  ] as const) {
    it(`says so and exits 1 when the ${what} port is taken`, async () => {
      const kinesis = await startLocalKinesis(`port-${what}`, 1);
      const taken = net.createServer();
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      const port = (taken.address() as net.AddressInfo).port;
      try {
        const ports = { '--port': '0', '--admin-port': '0', [flag]: String(port) };
        const running = runCli([
          'serve',
          ...Object.entries(ports).flat(),
          '--host',
          '127.0.0.1',
          '--admin-host',
          '127.0.0.1',
          '--kinesis-endpoint',
          kinesis.endpoint,
          '--stream',
          `port-${what}`,
        ]);
        assert.equal((await running.exited).code, 1);
        assert.match(running.stderr.join('\n'), new RegExp(`cannot listen for ${what} on 127\\.0\\.0\\.1:${port} \\(in use or not permitted\\)`));
      } finally {
        taken.close();
        await kinesis.kill();
      }
    });
  }

  for (const [command, schema] of [
    ['serve', SERVE_SCHEMA],
    ['tap', TAP_SCHEMA],
    ['local-kinesis', LOCAL_KINESIS_SCHEMA],
  ] as const) {
    it(`prints every ${command} option with its default and environment variable for --help`, async () => {
      const help = runCli([command, '--help']);
      assert.equal((await help.exited).code, 0);
      const text = help.logs.map((l) => l.msg).join('\n');
      const specs: Parameters<typeof envName>[0][] = Object.values(schema);
      for (const spec of specs) {
        const at = text.indexOf(`  --${spec.flag}`);
        assert.ok(at >= 0, `--${spec.flag} is listed`);
        const entry = text.slice(at, text.indexOf('\n  --', at + 1) >>> 0);
        const env = (spec.env ?? [envName(spec)]).join(', ');
        assert.ok(
          entry.includes(`default: ${spec.default === undefined ? 'unset' : String(spec.default)}; env: ${env}`),
          `--${spec.flag} shows its default and variables: ${entry}`,
        );
      }
    });
  }

  it('exits 2 on bad options, naming each', async () => {
    const bad = runCli(['serve', '--port', 'x', '--linger-ms', '-1']);
    assert.equal((await bad.exited).code, 2);
    assert.match(bad.stderr.join('\n'), /--port: expected a whole number[\s\S]*--linger-ms: must be at least 0/);
  });
});
