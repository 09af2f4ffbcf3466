// The reference tables of docs/ must name everything the code has: options (docs/configuration.md),
// error codes (docs/errors.md) and metrics (docs/metrics.md). The README keeps the quick start.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { envName, SERVE_SCHEMA } from '../src/config';
import { ERROR_CODES } from '../src/errors';
import { METRICS } from '../src/metrics/metric-definitions';
import { createRegistry, type MainThreadGauges } from '../src/metrics/registry';
import { SharedMetrics } from '../src/metrics/shared-metrics';

const ROOT = path.join(__dirname, '..', '..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const readme = read('README.md');
const configuration = read('docs/configuration.md');
const errors = read('docs/errors.md');
const metrics = read('docs/metrics.md');

describe('docs/configuration.md, docs/errors.md, docs/metrics.md and the README', () => {
  it('lists every serve option with its environment variable and default', () => {
    for (const spec of Object.values(SERVE_SCHEMA)) {
      const row = configuration.split('\n').find((line) => line.startsWith(`| \`--${spec.flag}\` |`));
      assert.ok(row, `--${spec.flag} has a row`);
      assert.ok(row.includes(`\`${envName(spec)}\``), `--${spec.flag} names ${envName(spec)}`);
      assert.ok(row.includes(spec.default === undefined ? 'unset' : `\`${spec.default}\``), `--${spec.flag} shows its default`);
    }
  });

  it('lists every error code with its status', () => {
    for (const [code, { status }] of Object.entries(ERROR_CODES)) {
      assert.ok(errors.includes(`| ${status} | \`${code}\` |`), `${code} (${status}) is documented`);
    }
  });

  it('lists every gateway metric the registry exports', async () => {
    // The registry the gateway serves, so a metric added or renamed anywhere in it is checked.
    // Every main-thread gauge reads 0 here, whichever gauges there are.
    const gauges = new Proxy({}, { get: () => () => 0 }) as MainThreadGauges;
    const registry = createRegistry(new SharedMetrics(), gauges, { version: '0', uwsVersion: '0', uwsBuild: 'official' });
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name).filter((name) => name.startsWith('gateway_'));
    assert.ok(names.length > Object.keys(METRICS).length, `the gauges are among them: ${names.length}`);
    // The whole name: `gateway_ack_waiting` must not pass for `gateway_ack_waiting_requests`.
    for (const name of names) assert.match(metrics, new RegExp(`\`${name}[\`{]`), `${name} is documented`);
  });

  it('gives the two-command quick start', () => {
    assert.match(readme, /```sh\nnpm install && npm start\n```/);
    assert.match(readme, /```sh\nnpm install && npm test\n```/);
  });
});
