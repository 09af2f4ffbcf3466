// serve as a lifecycle, run in this process so that what it leaves open can be seen: a start that
// fails closes every part it had opened, and a shutdown closes them all.

import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { parseOptions, SERVE_SCHEMA } from '../../src/config';
import { StartupError, StreamError } from '../../src/errors';
import { serve } from '../../src/gateway';
import { createLogger } from '../../src/log';
import { freePort } from '../support/ports';
import { post, startLocalKinesis } from '../support/processes';
import { until } from '../support/wait';

const log = createLogger('silent');

function config(args: string[]) {
  return parseOptions(SERVE_SCHEMA, ['--host', '127.0.0.1', '--admin-host', '127.0.0.1', '--workers', '1', ...args], {});
}

/** Whether a server of this process may take the port: no one else listens on it. */
async function canListen(port: number): Promise<boolean> {
  const server = net.createServer();
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (listening) await new Promise((resolve) => server.close(resolve));
  return listening;
}

/** Whether something answers a connection on the port. */
async function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('serve lifecycle', () => {
  it('closes both listeners when the stream cannot be confirmed after they opened', async () => {
    const kinesis = await startLocalKinesis('present', 1);
    try {
      const [port, adminPort] = [await freePort(), await freePort()];
      const starting = serve(
        config(['--port', String(port), '--admin-port', String(adminPort), '--kinesis-endpoint', kinesis.endpoint, '--stream', 'absent']),
        log,
      );
      await assert.rejects(starting, (err) => err instanceof StreamError && err.code === 'stream_not_found');
      assert.equal(await canListen(port), true, 'the events port is free again');
      assert.equal(await canListen(adminPort), true, 'the admin port is free again');
    } finally {
      await kinesis.kill();
    }
  });

  it('stops the embedded local Kinesis and closes the events listener when the admin port is taken', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const adminPort = (taken.address() as net.AddressInfo).port;
    try {
      const [port, kinesisPort] = [await freePort(), await freePort()];
      const starting = serve(config(['--port', String(port), '--admin-port', String(adminPort), '--local-kinesis-port', String(kinesisPort)]), log);
      await assert.rejects(starting, (err) => err instanceof StartupError && err.code === 'listen_failed');
      assert.equal(await canListen(port), true, 'the events port is free again');
      await until('the local Kinesis stops', async () => !(await answers(kinesisPort)), 10_000);
    } finally {
      taken.close();
    }
  });

  it('ships what it took, then closes every part on shutdown', async () => {
    const [port, adminPort, kinesisPort] = [await freePort(), await freePort(), await freePort()];
    const gateway = await serve(config(['--port', String(port), '--admin-port', String(adminPort), '--local-kinesis-port', String(kinesisPort)]), log);
    assert.deepEqual([gateway.port, gateway.adminPort], [port, adminPort]);
    assert.equal((await post(`http://127.0.0.1:${port}/v1/events`, '{"a":1}')).status, 202);
    assert.equal(await gateway.shutdown(false), true, 'every buffered event was confirmed');
    assert.equal(await canListen(port), true, 'the events port is free again');
    assert.equal(await canListen(adminPort), true, 'the admin port is free again');
    await until('the local Kinesis stops', async () => !(await answers(kinesisPort)), 10_000);
  });
});
