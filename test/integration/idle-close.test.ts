// How long uWebSockets.js keeps an idle keep-alive connection open. The build decides it at compile
// time and no option changes it, yet a load balancer in front must give up on an idle connection
// before the gateway does (an ALB that sends a request on a connection the gateway has just closed
// answers 502). deploy/settings.json records the close measured for each build and the ALB idle
// timeouts chosen below it; this test measures it again, so a uWS upgrade that moves it fails here.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { startGateway } from '../support/processes';

interface CloseRange {
  version: string;
  min: number;
  max: number;
}

interface Timing {
  uwsIdleCloseSeconds: Record<'official' | 'legacy', CloseRange>;
  idleMarginSeconds: number;
  albIdleTimeoutSeconds: number;
  legacyAlbIdleTimeoutSeconds: number;
}

const SETTINGS = path.join(__dirname, '..', '..', '..', 'deploy', 'settings.json');
const timing: Timing = JSON.parse(readFileSync(SETTINGS, 'utf8')).timing;

const BODY = '{"type":"page_view","url":"/idle"}';
const REQUEST =
  'POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\nContent-Type: application/json\r\n' +
  `Content-Length: ${Buffer.byteLength(BODY)}\r\n\r\n${BODY}`;

interface Measurement {
  answer: string;
  /** Seconds from the end of the answer to the server's close. */
  closeSeconds: number;
  /** How the connection ended: 'end' is the server's FIN. */
  ending: 'end' | 'error';
}

/** Sends one keep-alive request, reads the whole answer, then waits (at most deadlineMs) for the server to close. */
function measureIdleClose(port: number, deadlineMs: number): Promise<Measurement> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(REQUEST));
    let received = '';
    let answeredAt = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the gateway kept an idle connection open for more than ${deadlineMs} ms (answer: ${JSON.stringify(received)})`));
    }, deadlineMs);
    const finish = (ending: Measurement['ending']) => {
      clearTimeout(timer);
      if (answeredAt === 0) return reject(new Error(`the connection ended (${ending}) before a whole answer: ${JSON.stringify(received)}`));
      resolve({ answer: received, closeSeconds: (performance.now() - answeredAt) / 1000, ending });
    };
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const headEnd = received.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: *(\d+)/i.exec(received);
      if (answeredAt === 0 && headEnd >= 0 && length && received.length >= headEnd + 4 + Number(length[1])) answeredAt = performance.now();
    });
    socket.on('end', () => finish('end'));
    socket.on('error', () => finish('error'));
  });
}

describe('idle keep-alive connections', () => {
  it('are closed by the gateway within the range recorded for its uWS build, later than the ALB idle timeout', { timeout: 90_000 }, async (t) => {
    const gateway = await startGateway();
    try {
      const uws = gateway.logs[0].uws as { kind: string; version: string };
      // The gateway starts only on a native build unless told otherwise; this test never tells it.
      assert.ok(uws.kind === 'official' || uws.kind === 'legacy', `the gateway runs on a native uWS build, not ${uws.kind}`);
      const expected = timing.uwsIdleCloseSeconds[uws.kind];
      assert.equal(uws.version, expected.version, 'deploy/settings.json records the close of another uWS version: measure again and update it');

      const measured = await measureIdleClose(gateway.port, (expected.max + 10) * 1000);
      assert.match(measured.answer, /^HTTP\/1\.1 202 /);
      assert.doesNotMatch(measured.answer, /\r\nconnection: *close/i, 'the answer must keep the connection alive');
      assert.equal(measured.ending, 'end', 'the gateway closes an idle connection with a FIN');
      t.diagnostic(`uWS ${uws.version} (${uws.kind}) closed an idle keep-alive connection after ${measured.closeSeconds.toFixed(2)} s`);
      assert.ok(
        measured.closeSeconds >= expected.min && measured.closeSeconds <= expected.max,
        `the ${uws.kind} uWS ${uws.version} build closed an idle connection after ${measured.closeSeconds.toFixed(2)} s; ` +
          `deploy/settings.json says ${expected.min}-${expected.max} s: update it, the ALB idle timeouts and docs/deploying.md`,
      );

      // The artefacts run the official build (the image); the legacy build gets its own, lower, timeout.
      const albIdleTimeout = uws.kind === 'official' ? timing.albIdleTimeoutSeconds : timing.legacyAlbIdleTimeoutSeconds;
      assert.ok(
        albIdleTimeout <= measured.closeSeconds - timing.idleMarginSeconds,
        `the ALB idle timeout for the ${uws.kind} build (${albIdleTimeout} s) must stay ${timing.idleMarginSeconds} s below the gateway's idle close (${measured.closeSeconds.toFixed(2)} s)`,
      );
    } finally {
      await gateway.kill('SIGINT');
    }
  });
});
