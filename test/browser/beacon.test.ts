// A real browser (Debian's Chromium, driven by playwright-core) sends events from a page of another
// origin: navigator.sendBeacon, fetch with keepalive (JSON, which needs a CORS preflight, and
// text/plain), and an <img> pixel; and one beacon from an origin the gateway does not allow.

import assert from 'node:assert/strict';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium, servePages } from '../support/browser';
import { metricsText, metricValue, waitUntilShipped } from '../support/load';
import { freePort } from '../support/ports';
import { startGateway, tapStream, type Gateway } from '../support/processes';
import { until } from '../support/wait';

function page(gatewayUrl: string, sender: string): string {
  return `<!doctype html><meta charset="utf-8"><title>sending</title><script>
(async () => {
  const url = ${JSON.stringify(gatewayUrl)};
  const sender = ${JSON.stringify(sender)};
  if (sender === 'disallowed') {
    navigator.sendBeacon(url + '/v1/events', JSON.stringify({ via: 'beacon', sender }));
  } else {
    navigator.sendBeacon(url + '/v1/events', JSON.stringify({ via: 'beacon', sender }));
    await fetch(url + '/v1/events', { method: 'POST', keepalive: true, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify([{ via: 'fetch-json', sender }]) });
    await fetch(url + '/v1/events', { method: 'POST', keepalive: true, headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ via: 'fetch-text', sender }) });
    await new Promise((resolve) => { const img = new Image(); img.onload = resolve; img.onerror = resolve; img.src = url + '/v1/pixel.gif?via=pixel&sender=' + sender; });
  }
  document.title = 'done';
})();
</script>`;
}

let gateway: Gateway;
let server: http.Server;
let browser: Browser;
let pagePort: number;

before(async () => {
  pagePort = await freePort();
  // 127.0.0.1 and localhost are different origins: one is allowed, the other not.
  gateway = await startGateway(['--cors-origins', `http://127.0.0.1:${pagePort}`]);
  server = await servePages(pagePort, (req, res) => {
    const sender = req.headers.host?.startsWith('localhost') ? 'disallowed' : 'allowed';
    res.writeHead(200, { 'content-type': 'text/html' }).end(page(`http://127.0.0.1:${gateway.port}`, sender));
  });
  assert.equal((server.address() as AddressInfo).port, pagePort);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.close();
  await gateway?.kill('SIGINT');
});

describe('events from a real browser', () => {
  it("arrive from an allowed origin by beacon, keepalive fetch and pixel, with the browser's user agent; a disallowed origin is refused", async () => {
    const context = await browser.newContext();
    const tab = await context.newPage();
    const userAgent = (await tab.evaluate('navigator.userAgent')) as string;
    for (const host of [`http://127.0.0.1:${pagePort}/`, `http://localhost:${pagePort}/`]) {
      await tab.goto(host);
      await tab.waitForFunction('document.title === "done"', undefined, { timeout: 15_000 });
    }
    // The beacons go out in the background: the page stays open until the gateway has had them all.
    await until('the gateway took the four events and refused the beacon of the other origin', async () => {
      const metrics = await metricsText(gateway);
      return (
        metricValue(metrics, 'gateway_events_accepted_total') >= 4 && metricValue(metrics, 'gateway_events_rejected_total{reason="origin_not_allowed"}') >= 1
      );
    });
    await context.close();

    await waitUntilShipped(gateway);
    const envelopes = await tapStream(gateway.kinesisEndpoint, 'events', 2);
    const received = envelopes.map((e) => [e.event.via, e.event.sender, e.ua === userAgent, e.path]);
    assert.deepEqual(received.sort(), [
      ['beacon', 'allowed', true, '/v1/events'],
      ['fetch-json', 'allowed', true, '/v1/events'],
      ['fetch-text', 'allowed', true, '/v1/events'],
      ['pixel', 'allowed', true, '/v1/pixel.gif'],
    ]);
    assert.match(userAgent, /Chrome/);
    const metrics = await metricsText(gateway);
    assert.match(metrics, /^gateway_cors_refused_total [1-9]/m, 'the disallowed beacon was counted');
    assert.match(metrics, /gateway_events_rejected_total\{reason="origin_not_allowed"\} [1-9]/);
  });
});
