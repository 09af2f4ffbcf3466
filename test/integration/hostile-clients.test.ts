// Clients that hold resources: one trickling its body, a thousand idle connections. Other clients
// must be served all along, and the process must not fall over.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { waitUntilShipped } from '../support/load';
import { post, startGateway, tapStream, type Gateway } from '../support/processes';

let gateway: Gateway;
before(async () => {
  gateway = await startGateway(['--body-timeout-ms', '1000']);
});
after(async () => {
  await gateway?.kill('SIGINT');
});

describe('hostile clients', () => {
  it('a body sent a byte at a time gets 408 when --body-timeout-ms passes, while others are served', async () => {
    const socket = net.connect(gateway.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"marker":"slow",');
    const answer = new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      socket.on('data', (chunk) => chunks.push(chunk));
      socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
    });
    const trickle = setInterval(() => socket.writable && socket.write('"'), 200);
    try {
      const served = await post(gateway.url('/v1/events'), '{"marker":"meanwhile"}');
      assert.equal(served.status, 202, 'another client is served while the slow body trickles');
      const text = await answer;
      assert.match(text, /^HTTP\/1\.1 408 /);
      assert.match(text, /"error":"body_timeout"/);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  });

  it('a thousand idle connections do not keep others out', async () => {
    const idle: net.Socket[] = [];
    try {
      for (let i = 0; i < 1000; i++) idle.push(net.connect(gateway.port, '127.0.0.1'));
      await Promise.all(idle.map((s) => new Promise((resolve, reject) => s.once('connect', resolve).once('error', reject))));
      assert.equal((await post(gateway.url('/v1/events'), '{"marker":"among-idle"}')).status, 202);
    } finally {
      for (const s of idle) s.destroy();
    }
    assert.equal((await fetch(gateway.url('/healthz'))).status, 200, 'still alive once they are gone');
    await waitUntilShipped(gateway);
    const markers = (await tapStream(gateway.kinesisEndpoint, 'events', 1)).map((e) => e.event.marker);
    assert.deepEqual(markers.sort(), ['among-idle', 'meanwhile'], 'nothing of the slow body was shipped');
  });
});
