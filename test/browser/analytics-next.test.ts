// @segment/analytics-next, its published browser build, in Debian's Chromium: loaded from a page
// this test serves, with cdnURL and apiHost at the gateway. page(), track() and identify() one
// call per request and in batching mode, then calls left pending when the page is left: every
// event on the stream.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium, servePages } from '../support/browser';
import { metricsText, metricValue, waitUntilShipped } from '../support/load';
import { freePort } from '../support/ports';
import { startGateway, tapStream, type Gateway } from '../support/processes';
import { until } from '../support/wait';

const KEY = 'browser-key';
const BUILD = path.join(require.resolve('@segment/analytics-next/package.json'), '..', 'dist', 'umd', 'index.js');

/** mode: 'single' (a request per call), 'batching', or 'unload' (batching, left before the batch is due). */
function page(gatewayUrl: string, mode: string): string {
  const host = gatewayUrl.replace(/^http:\/\//, '');
  // Left pending: a batch too large and too slow to go before the page is left.
  const config = mode === 'unload' ? { size: 100, timeout: 60_000 } : { size: 3, timeout: 200 };
  const delivery = mode === 'single' ? undefined : { strategy: 'batching', config };
  return `<!doctype html><meta charset="utf-8"><title>loading</title><script src="/analytics-next.js"></script><script>
(async () => {
  const mode = ${JSON.stringify(mode)};
  const [analytics] = await AnalyticsNext.AnalyticsBrowser.load(
    { writeKey: ${JSON.stringify(KEY)}, cdnURL: ${JSON.stringify(gatewayUrl)} },
    { integrations: { 'Segment.io': { apiHost: ${JSON.stringify(`${host}/v1`)}, protocol: 'http', deliveryStrategy: ${JSON.stringify(delivery)} } } },
  );
  window.sent = [];
  const calls = [
    () => analytics.page('Docs', 'Home', { mode }),
    () => analytics.track('Clicked', { mode }),
    () => analytics.identify('user-' + mode, { mode }),
  ];
  if (mode === 'unload') {
    for (const call of calls) call();
    document.title = 'ready';
    return;
  }
  for (const call of calls) window.sent.push((await call()).event.messageId);
  document.title = 'done';
})().catch((err) => { document.title = 'failed: ' + err; });
</script>`;
}

let gateway: Gateway;
let server: http.Server;
let browser: Browser;
let pagePort: number;

before(async () => {
  pagePort = await freePort();
  gateway = await startGateway(['--cors-origins', `http://127.0.0.1:${pagePort}`, '--write-keys', KEY]);
  const build = readFileSync(BUILD);
  server = await servePages(pagePort, (req, res) => {
    if (req.url === '/analytics-next.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(build);
    const mode = new URL(req.url ?? '/', 'http://x').searchParams.get('mode') ?? 'none';
    res.writeHead(200, { 'content-type': 'text/html' }).end(mode === 'none' ? '<title>away</title>' : page(`http://127.0.0.1:${gateway.port}`, mode));
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.close();
  await gateway?.kill('SIGINT');
});

describe('@segment/analytics-next in Chromium', () => {
  it('sends page, track and identify one by one and batched, and what is pending when the page is left', async () => {
    const context = await browser.newContext();
    const tab = await context.newPage();
    const sent: string[] = [];
    for (const mode of ['single', 'batching']) {
      await tab.goto(`http://127.0.0.1:${pagePort}/?mode=${mode}`);
      await tab.waitForFunction('document.title !== "loading"', undefined, { timeout: 20_000 });
      assert.equal(await tab.title(), 'done');
      sent.push(...((await tab.evaluate('window.sent')) as string[]));
    }
    await tab.goto(`http://127.0.0.1:${pagePort}/?mode=unload`);
    await tab.waitForFunction('document.title !== "loading"', undefined, { timeout: 20_000 });
    assert.equal(await tab.title(), 'ready');
    await tab.goto(`http://127.0.0.1:${pagePort}/?mode=none`);
    await until('the gateway took all nine calls', async () => metricValue(await metricsText(gateway), 'gateway_events_accepted_total') >= 9);
    await context.close();

    await waitUntilShipped(gateway);
    const events: Record<string, unknown>[] = (await tapStream(gateway.kinesisEndpoint, 'events', 2)).map((e) => ({ ...e.event, path: e.path }));
    type Marked = { mode?: string } | undefined;
    const modeOf = (e: Record<string, unknown>) => (e.properties as Marked)?.mode ?? (e.traits as Marked)?.mode;
    const seen = events.map((e) => [modeOf(e), e.type, e.path]);
    assert.deepEqual(seen.sort(), [
      ['batching', 'identify', '/v1/b'],
      ['batching', 'page', '/v1/b'],
      ['batching', 'track', '/v1/b'],
      ['single', 'identify', '/v1/i'],
      ['single', 'page', '/v1/p'],
      ['single', 'track', '/v1/t'],
      ['unload', 'identify', '/v1/b'],
      ['unload', 'page', '/v1/b'],
      ['unload', 'track', '/v1/b'],
    ]);
    const ids = events.map((e) => e.messageId as string);
    for (const id of sent) assert.equal(ids.filter((x) => x === id).length, 1, `${id} is on the stream once`);
    assert.ok(events.every((e) => e.writeKey === undefined));
  });
});
