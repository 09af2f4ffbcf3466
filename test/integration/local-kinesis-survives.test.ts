// The local Kinesis survives its clients (issue 14): a reset mid-request, a client that gives up,
// a half-closed socket, and sockets abandoned while the emulator was frozen (SIGSTOP) and then
// reset when it is thawed, never kill it. And `serve` restarts its embedded child when it dies.

import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { describe, it } from 'node:test';
import { createKinesisClient } from '../../src/kinesis-client';
import { sendEvents, waitUntilShipped } from '../support/load';
import { startGateway, startLocalKinesis, tapStream } from '../support/processes';

const PARTIAL_REQUEST =
  'POST / HTTP/1.1\r\nHost: k\r\nContent-Type: application/x-amz-json-1.1\r\n' +
  'X-Amz-Target: Kinesis_20131202.ListStreams\r\nContent-Length: 1000\r\n\r\n{"Limit":';
const WHOLE_REQUEST =
  'POST / HTTP/1.1\r\nHost: k\r\nContent-Type: application/x-amz-json-1.1\r\n' + 'X-Amz-Target: Kinesis_20131202.ListStreams\r\nContent-Length: 2\r\n\r\n{}';

/** Resolves once the data is handed to the kernel: on loopback, in the peer's receive buffer. */
function write(socket: net.Socket, data: string): Promise<void> {
  return new Promise((resolve, reject) => socket.write(data, (err) => (err ? reject(err) : resolve())));
}

function connect(endpoint: string): Promise<net.Socket> {
  const { hostname, port } = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => resolve(socket));
    socket.on('error', () => undefined); // resets are the point here
    socket.once('error', reject);
  });
}

async function listStreams(endpoint: string): Promise<string[]> {
  const client = createKinesisClient({ endpoint });
  try {
    return (await client.send(new ListStreamsCommand({}))).StreamNames ?? [];
  } finally {
    client.destroy();
  }
}

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

describe('the local Kinesis and its clients', () => {
  it('survives resets, clients that give up, half-closed sockets, and a freeze with abandoned sockets', async () => {
    const kinesis = await startLocalKinesis('survive', 1);
    try {
      // Reset in the middle of a request body. The emulator has read the partial request once it
      // answers one sent after it (it reads what arrived before it finishes a later request).
      const reset = await connect(kinesis.endpoint);
      await write(reset, PARTIAL_REQUEST);
      await listStreams(kinesis.endpoint);
      reset.resetAndDestroy();
      // A client that gives up waiting (a timeout) and closes politely mid-body.
      const gaveUp = await connect(kinesis.endpoint);
      await write(gaveUp, PARTIAL_REQUEST);
      await listStreams(kinesis.endpoint);
      gaveUp.destroy();
      // Half-closed: the request, then the write side shut, and the same mid-body.
      const halfClosed = await connect(kinesis.endpoint);
      halfClosed.end(WHOLE_REQUEST);
      const halfClosedMidBody = await connect(kinesis.endpoint);
      halfClosedMidBody.end(PARTIAL_REQUEST);
      // Frozen: requests arrive and are abandoned with resets; then thawed.
      process.kill(kinesis.child.pid!, 'SIGSTOP');
      const abandoned = await Promise.all(Array.from({ length: 8 }, () => connect(kinesis.endpoint)));
      await Promise.all(abandoned.map((socket, i) => write(socket, i % 2 ? WHOLE_REQUEST : PARTIAL_REQUEST)));
      for (const socket of abandoned) socket.resetAndDestroy();
      process.kill(kinesis.child.pid!, 'SIGCONT');
      // Thawed, it takes the abandoned connections before one made now, and answers that one.
      await listStreams(kinesis.endpoint);
      halfClosedMidBody.destroy();
      halfClosed.destroy();

      assert.deepEqual(await listStreams(kinesis.endpoint), ['survive'], 'it still answers');
      assert.equal(kinesis.child.exitCode, null, `it is still running; stderr: ${kinesis.stderr.join('\n')}`);
    } finally {
      await kinesis.kill();
    }
  });

  it('is started again by serve when its embedded child dies, with the stream created again', async () => {
    const gateway = await startGateway(['--stream', 'restarted', '--local-kinesis-shards', '1', '--linger-ms', '10']);
    try {
      const first = await sendEvents(gateway, 100);
      await waitUntilShipped(gateway);
      const [child] = childrenOf(gateway.child.pid!);
      assert.ok(child, 'the embedded local Kinesis runs as a child process');
      process.kill(child, 'SIGKILL');
      const died = await gateway.waitForLog((l) => /the embedded local Kinesis exited/.test(l.msg), 10_000);
      assert.match(died.msg, /what the stream held is lost/);
      await gateway.waitForLog((l) => /the embedded local Kinesis is back/.test(l.msg), 30_000);
      const second = await sendEvents(gateway, 100, { firstSeq: 1000 });
      await waitUntilShipped(gateway);
      const onStream = (await tapStream(gateway.kinesisEndpoint, 'restarted')).map((e) => e.event.seq as number);
      assert.equal(first.length + second.length, 200);
      assert.deepEqual(
        second.filter((seq) => !onStream.includes(seq)),
        [],
        'events sent after the restart are on the new stream',
      );
      const [newChild] = childrenOf(gateway.child.pid!);
      assert.ok(newChild && newChild !== child, 'a new child runs');
    } finally {
      await gateway.kill('SIGKILL');
    }
  });
});
