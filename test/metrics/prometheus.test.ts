// A real Prometheus (Debian's package, installed by .ci/run) scrapes the gateway under load; every
// PromQL expression of the Grafana dashboard must return data, promtool must accept /metrics, and
// docs/metrics.md must list exactly the gateway's metrics.

import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../support/ports';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy';
import { metricsText, sendEvents } from '../support/load';
import { startGateway, startLocalKinesis, type Gateway, type LocalKinesisProcess } from '../support/processes';
import { tempDir } from '../support/temp-dir';

const ROOT = path.join(__dirname, '..', '..', '..');
const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'grafana', 'dashboards', 'kinesis-gateway.json'), 'utf8'));

let kinesis: LocalKinesisProcess;
let proxy: FaultProxy;
let gateway: Gateway;
let prometheus: ChildProcess;
let prometheusUrl: string;

async function query(expr: string): Promise<{ status: string; data: { result: unknown[] } }> {
  const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await response.json()) as { status: string; data: { result: unknown[] } };
}

before(async () => {
  kinesis = await startLocalKinesis('observed', 2);
  // Some throttled entries, so that the per-shard throttle series exist.
  proxy = await startFaultProxy(kinesis.endpoint, { failEntries: 0.2, entryErrorCodes: ['ProvisionedThroughputExceededException'], failRequests: 0 });
  const dir = tempDir('prometheus-');
  // With the disk spool, so that its series carry real values.
  gateway = await startGateway([
    '--kinesis-endpoint',
    proxy.endpoint,
    '--stream',
    'observed',
    '--linger-ms',
    '10',
    '--aggregation-max-bytes',
    '4KiB',
    '--durability',
    'disk',
    '--spool-dir',
    path.join(dir, 'spool'),
  ]);
  writeFileSync(
    path.join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: gateway\n    static_configs:\n      - targets: ['127.0.0.1:${gateway.adminPort}']\n`,
  );
  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn(
    'prometheus',
    [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: 'ignore' },
  );
  prometheus.once('error', (err) => assert.fail(`cannot run prometheus (apt-get install -y prometheus): ${err.message}`));
  // Steady load while Prometheus takes several scrapes, so every rate() has two samples.
  const until = Date.now() + 8000;
  while (Date.now() < until) {
    await sendEvents(gateway, 200, { perRequest: 10, concurrency: 2 });
    await fetch(gateway.url('/v1/events?ack=stream'), { method: 'POST', body: '{"stream":true}', headers: { 'content-type': 'application/json' } });
  }
  for (let waited = 0; ; waited += 500) {
    try {
      const up = await query('up{job="gateway"} == 1');
      const samples = await query('count_over_time(gateway_events_accepted_total[1m])');
      if (up.data.result.length > 0 && Number((samples.data.result[0] as { value: [number, string] } | undefined)?.value[1] ?? 0) >= 4) break;
    } catch {
      // not listening yet
    }
    if (waited > 30_000) assert.fail('Prometheus did not scrape the gateway within 30 s');
    await sleep(500);
  }
});

after(async () => {
  prometheus?.kill();
  await gateway?.kill('SIGINT');
  await proxy?.close();
  await kinesis?.kill();
});

describe('metrics in a real Prometheus', () => {
  const expressions: { panel: string; expr: string }[] = dashboard.panels.flatMap((panel: { title: string; targets: { expr: string }[] }) =>
    panel.targets.map((target) => ({ panel: panel.title, expr: target.expr })),
  );

  it('the dashboard has the panels operators need, on its datasource and instance variables', () => {
    const titles = dashboard.panels.map((p: { title: string }) => p.title).join('\n');
    for (const wanted of [
      /Ingest rate/,
      /Request latency/,
      /Rejected/,
      /Ring fill/,
      /PutRecords/,
      /Throttles by shard/,
      /Retries/,
      /Delivery latency/,
      /Dead-lettered/,
      /Event-loop lag/,
      /Memory/,
      /CPU/,
      /Spool size/,
      /Acknowledgements by promise/,
      /Stream acknowledgement waits/,
    ]) {
      assert.match(titles, wanted);
    }
    assert.deepEqual(
      dashboard.templating.list.map((v: { name: string }) => v.name),
      ['datasource', 'instance'],
    );
    assert.ok(
      expressions.every(({ expr }) => expr.includes('$instance') || expr.startsWith('vector(')),
      'every query is filtered by instance',
    );
    assert.ok(
      expressions.some(({ expr }) => expr.includes('vector(100000)')),
      'the 100,000 events/min reference line',
    );
  });

  it('every dashboard query returns data', async () => {
    const empty: string[] = [];
    for (const { panel, expr } of expressions) {
      const answer = await query(expr.replaceAll('$instance', '.*'));
      assert.equal(answer.status, 'success', `${panel}: ${expr}`);
      if (answer.data.result.length === 0) empty.push(`${panel}: ${expr}`);
    }
    assert.deepEqual(empty, [], 'queries without data');
  });

  it("promtool accepts /metrics (prom-client's own nodejs_active_*_total gauge names aside)", async () => {
    const text = await metricsText(gateway);
    let complaints = '';
    try {
      execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    } catch (err) {
      const { stdout, stderr } = err as { stdout: string; stderr: string };
      complaints = `${stdout}${stderr}`;
    }
    const ours = complaints.split('\n').filter((line) => line.trim() && !line.startsWith('nodejs_active_'));
    assert.deepEqual(ours, []);
  });

  it('docs/metrics.md lists exactly the gateway metrics that are exported', async () => {
    const text = await metricsText(gateway);
    const doc = readFileSync(path.join(ROOT, 'docs', 'metrics.md'), 'utf8');
    const exported = new Set([...text.matchAll(/^# TYPE (gateway_\w+)/gm)].map((m) => m[1]));
    const start = doc.indexOf('\n## Metric reference\n');
    assert.ok(start >= 0, 'docs/metrics.md has the section "Metric reference"');
    const metricsSection = doc.slice(start, doc.indexOf('\n## ', start + 1));
    const documented = new Set([...metricsSection.matchAll(/`(gateway_\w+)/g)].map((m) => m[1]));
    assert.deepEqual(
      [...exported].filter((name) => !documented.has(name)),
      [],
      'exported but not documented',
    );
    assert.deepEqual(
      [...documented].filter((name) => !exported.has(name)),
      [],
      'documented but not exported',
    );
  });
});
