// The example alerting rules (grafana/alerts/kinesis-gateway-alerts.yml): promtool accepts them,
// they fire on the series the gateway exports (promtool's rule unit tests on synthetic series), and
// every gateway_ metric they name is one the gateway exports.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createRegistry, type MainThreadGauges } from '../../src/metrics/registry';
import { SharedMetrics } from '../../src/metrics/shared-metrics';
import { tempDir } from '../support/temp-dir';

const RULES = path.join(__dirname, '..', '..', '..', 'grafana', 'alerts', 'kinesis-gateway-alerts.yml');

function promtool(args: string[]): string {
  try {
    return execFileSync('promtool', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { code?: string; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') assert.fail('cannot run promtool (apt-get install -y prometheus)');
    assert.fail(`promtool ${args.join(' ')} failed:\n${e.stdout}\n${e.stderr}`);
  }
}

// A gateway whose Kinesis stopped answering at minute 1: the lag grows by 60 s a minute, the spool
// fills, 500 events expire at minute 4; another instance is healthy.
const UNIT_TESTS = `
rule_files: [${JSON.stringify(RULES)}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'gateway_oldest_unconfirmed_age_seconds{instance="a"}'
        values: '1 0+60x20'
      - series: 'gateway_oldest_unconfirmed_age_seconds{instance="b"}'
        values: '1x20'
      - series: 'gateway_spool_bytes{instance="a"}'
        values: '0+60x20'
      - series: 'gateway_spool_capacity_bytes{instance="a"}'
        values: '1000x20'
      - series: 'gateway_spool_writable{instance="a"}'
        values: '1x20'
      - series: 'gateway_dead_letter_events_total{instance="a",reason="expired"}'
        values: '0 0 0 0 500x16'
      - series: 'gateway_dead_letter_events_total{instance="a",reason="refused"}'
        values: '0x20'
      - series: 'gateway_ready{instance="a"}'
        values: '1 1 1 1 1 1 1 1 1 1 0x10'
      - series: 'gateway_ready{instance="b"}'
        values: '1x20'
      - series: 'up{job="kinesis-gateway",instance="a"}'
        values: '1x20'
    alert_rule_test:
      - eval_time: 1m
        alertname: KinesisGatewayDeliveryLag
        exp_alerts: []
      - eval_time: 6m
        alertname: KinesisGatewayDeliveryLag
        exp_alerts:
          - exp_labels: { severity: warning, instance: a }
            exp_annotations:
              summary: 'a: events wait 5m 0s for Kinesis'
              description: 'The oldest accepted event is not confirmed by Kinesis after 5m 0s. Kinesis is unreachable, refusing or throttling: check gateway_put_records_requests_total{outcome="error"} and gateway_records_failed_total. With --spool-dir the events wait on disk; without one they are dead-lettered past --record-ttl-ms.'
      - eval_time: 6m
        alertname: KinesisGatewayDeadLetters
        exp_alerts:
          - exp_labels: { severity: warning, instance: a, reason: expired }
            exp_annotations:
              summary: 'a: 500 events dead-lettered (expired) in 10 minutes'
              description: 'Events were written to the dead-letter file (--dead-letter-file): expired past --record-ttl-ms, or refused for good by Kinesis. \`kinesis-gateway replay FILE\` re-sends them once the cause is fixed.'
      - eval_time: 6m
        alertname: KinesisGatewaySpoolFilling
        exp_alerts: []
      - eval_time: 15m
        alertname: KinesisGatewaySpoolFilling
        exp_alerts:
          - exp_labels: { severity: warning, instance: a }
            exp_annotations:
              summary: 'a: the spool is 90% full'
              description: 'The disk spool holds events Kinesis has not taken yet. Past --ready-max-buffer-percent of it /readyz turns 503, and when it is full requests get 503 buffer_full.'
      - eval_time: 12m
        alertname: KinesisGatewayNotReady
        exp_alerts: []
      - eval_time: 16m
        alertname: KinesisGatewayNotReady
        exp_alerts:
          - exp_labels: { severity: warning, instance: a }
            exp_annotations:
              summary: 'a: /readyz has answered 503 for 5 minutes'
              description: 'The load balancer sends this instance no traffic. Check its log and gateway_spool_bytes.'
      - eval_time: 16m
        alertname: KinesisGatewaySpoolUnwritable
        exp_alerts: []
      - eval_time: 16m
        alertname: KinesisGatewayDown
        exp_alerts: []
`;

describe('alerting rules', () => {
  it('promtool check rules accepts the file', () => {
    assert.match(promtool(['check', 'rules', RULES]), /SUCCESS: \d+ rules found/);
  });

  it('fire on an outage as promtool test rules plays it', () => {
    const dir = tempDir('alerts-');
    const tests = path.join(dir, 'alerts-test.yml');
    writeFileSync(tests, UNIT_TESTS);
    assert.match(promtool(['test', 'rules', tests]), /SUCCESS/);
  });

  it('name only metrics the gateway exports', async () => {
    const gauges = new Proxy({}, { get: () => () => 0 }) as MainThreadGauges;
    const registry = createRegistry(new SharedMetrics(), gauges, { version: '0', uwsVersion: '0', uwsBuild: 'official' });
    const exported = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
    const named = new Set(readFileSync(RULES, 'utf8').match(/\bgateway_[a-z_]+/g));
    assert.ok(named.size >= 5);
    for (const name of named) assert.ok(exported.has(name), `${name} is exported`);
  });
});
