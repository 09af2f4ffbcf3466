// docs/deploying.md's sizing against the benchmark's committed report, bench/results/latest.md:
// every figure the sizing text quotes or derives is recomputed here from the report, and every
// number in the text must be one of them (or a constant named below), so a regenerated report, or
// a figure left over from an older one, fails until the docs are updated.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kubernetesObject, read } from './artefacts';

const REPORT = 'bench/results/latest.md';

interface Table {
  /** The last `## ` heading above the table. */
  heading: string;
  columns: string[];
  rows: Map<string, Record<string, string>>;
}

/** Every table of a markdown file, rows keyed by their first cell. */
function tables(markdown: string): Table[] {
  const cells = (line: string) =>
    line
      .trim()
      .replace(/^\|/, '')
      .replace(/\|$/, '')
      .split('|')
      .map((cell) => cell.trim());
  const found: Table[] = [];
  const lines = markdown.split('\n');
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].startsWith('## ')) heading = lines[i].slice(3).trim();
    if (!lines[i].startsWith('|') || !/^\|\s*-/.test(lines[i + 1] ?? '')) continue;
    const columns = cells(lines[i]);
    const rows = new Map<string, Record<string, string>>();
    for (i += 2; i < lines.length && lines[i].startsWith('|'); i++) {
      const values = cells(lines[i]);
      rows.set(values[0], Object.fromEntries(columns.map((column, c) => [column, values[c] ?? ''])));
    }
    found.push({ heading, columns, rows });
  }
  return found;
}

/** The one table with this column (and, when given, under a heading starting so). */
function tableWith(all: Table[], column: string, heading = ''): Table {
  const matching = all.filter((t) => t.columns.includes(column) && t.heading.startsWith(heading));
  assert.equal(matching.length, 1, `${REPORT}: one table with the column "${column}" under "${heading}…"`);
  return matching[0];
}

/** The leading number of a cell ("39.8 ±5.9%" → 39.8, "17,464 ±7.8%" → 17464). */
function leading(table: Table, row: string, column: string): number {
  const cell = table.rows.get(row)?.[column];
  const match = cell === undefined ? null : /^(\d[\d,]*(?:\.\d+)?)/.exec(cell);
  assert.ok(match, `${REPORT}: "${table.heading}", row ${row}, column ${column} is a number (got ${JSON.stringify(cell)})`);
  return Number(match[1].replace(/,/g, ''));
}

/** A number as the docs write it: thousands separated by commas, `digits` decimals. */
const format = (value: number, digits = 0) => value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** The section `## heading` of a markdown file, up to the next `## `, its lines joined by single spaces. */
function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `no section "## ${heading}"`);
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end < 0 ? undefined : end).replace(/\s+/g, ' ');
}

const KINESIS_SHARD_BYTES = 1024 * 1024; // 1 MiB/s per shard
const KINESIS_SHARD_RECORDS = 1000; // records/s per shard
/** The share of the main thread (one core) a planned instance may use. */
const PLAN_MAIN_THREAD = 0.6;
/** Headroom on top of the shards an instance fills. */
const SHARD_HEADROOM = 4 / 3;

/** The figures the sizing text must state, each computed from the report (and the manifests). */
function expectedFigures() {
  const report = read(REPORT);
  const all = tables(report);
  const headline = tableWith(all, 'requests/s', 'Peak, one request at a time');
  const fixed = tableWith(all, 'main thread µs/request');
  const aggregation = tableWith(all, 'events per record');
  const rate = /^CPU per request at a fixed (\d[\d,]*) req\/s/.exec(fixed.heading);
  assert.ok(rate, `${REPORT}: the fixed-rate table's heading names its rate`);
  const sizes = /(\d+)-byte events, (\d+) KiB records/.exec(report);
  assert.ok(sizes, `${REPORT}: the aggregation run names its event and record sizes`);
  const eventBytes = Number(sizes[1]);
  const recordBytes = Number(sizes[2]) * 1024;

  const mainUs = leading(fixed, 'single', 'main thread µs/request');
  const shippingUs = leading(fixed, 'single', 'other threads µs/event');
  const bareUs = leading(fixed, 'bare', 'main thread µs/request');
  const perEventUs = Math.round((mainUs + shippingUs) * 10) / 10;
  const ceiling = 1e6 / mainUs;
  const plan = Math.floor((ceiling * PLAN_MAIN_THREAD) / 1000) * 1000;

  // What the autoscalers see: the pod's CPU request and its target share of it.
  const hpa = kubernetesObject('HorizontalPodAutoscaler');
  const target: number = hpa.spec.metrics[0].resource.target.averageUtilization;
  const vcpus = Number(kubernetesObject('Deployment').spec.template.spec.containers[0].resources.requests.cpu);
  const scaleAt = ((target / 100) * vcpus * 1e6) / perEventUs;

  const perRecord = leading(aggregation, 'random', 'events per record');
  const perRecordKeyed = leading(aggregation, 'field', 'events per record');
  const bytesPerEvent = recordBytes / perRecord;
  const bytesPerEventKeyed = recordBytes / perRecordKeyed;
  const perShard = Math.floor(KINESIS_SHARD_BYTES / bytesPerEvent / 100) * 100;
  const perShardKeyed = Math.floor(KINESIS_SHARD_BYTES / bytesPerEventKeyed / 100) * 100;
  assert.ok(KINESIS_SHARD_RECORDS * perRecord > perShard, 'aggregated, bytes are the limit, as the text says');

  const figures: Record<string, string> = {
    'the fixed rate': rate[1],
    'single: main thread µs per request': `**${format(mainUs, 1)} µs**`,
    'single: shipping threads µs per event': `**${format(shippingUs, 1)} µs**`,
    'bare: main thread µs per request': `${format(bareUs, 1)} µs`,
    'CPU per event in all': `${format(perEventUs, 1)} µs`,
    'one instance’s ceiling': `**${format(Math.round(ceiling / 100) * 100)}**`,
    'the ceiling’s sum': `(1,000,000 µs ÷ ${format(mainUs, 1)} µs)`,
    'single’s peak': `${format(leading(headline, 'single', 'requests/s'))} req/s`,
    'events/s planned per instance': `**${format(plan)} events/s**`,
    'its main thread': `main thread ${format(Math.round((plan * mainUs) / 1e4))}% busy`,
    'its task’s CPU': `the task ${format(Math.round((plan * perEventUs) / (vcpus * 1e4)))}% of its ${vcpus} vCPUs`,
    'the autoscaling target': `${target}% in the CDK app and the HorizontalPodAutoscaler`,
    'where autoscaling starts': `near ${format(Math.round(scaleAt / 100) * 100)} events/s`,
    'the main thread by then': `already ${format(Math.round((scaleAt * mainUs) / 1e4))}% busy`,
    'the record size': `up to ${sizes[2]} KiB`,
    'envelopes per record': `**${format(perRecord, 1)}** ${eventBytes}-byte envelopes`,
    'envelopes per record, keyed': `**${format(perRecordKeyed, 1)}** with a key per event`,
    'bytes per event': `${format(Math.round(bytesPerEvent))} bytes per event (${format(Math.round(bytesPerEventKeyed))})`,
    'events/s the record limit would carry': `would carry ${format(KINESIS_SHARD_RECORDS * perRecord)} events/s`,
    'events/s per shard': `**${format(perShard)} events/s per shard** (${format(perShardKeyed)} with a key per event)`,
    'events/s per shard, unaggregated': `**${format(KINESIS_SHARD_RECORDS)} events/s per shard** with \`--aggregation off\``,
    'per-event overhead': `(envelope bytes + ${format(Math.round(bytesPerEvent - eventBytes))})`,
    'per-event overhead, keyed': `+ ${format(Math.round(bytesPerEventKeyed - eventBytes))} instead of + ${format(Math.round(bytesPerEvent - eventBytes))} with a key per event`,
    'the formula’s divisor': `÷ ${format(KINESIS_SHARD_BYTES)}`,
    'shards one instance fills': `${format(plan)} events/s fill ${format(plan / perShard, 1)} shards aggregated, ${format(plan / KINESIS_SHARD_RECORDS)} without`,
    'shards with headroom': `round up: ${Math.ceil((plan * SHARD_HEADROOM) / perShard)} and ${Math.ceil((plan * SHARD_HEADROOM) / KINESIS_SHARD_RECORDS)} shards per instance`,
  };
  return figures;
}

/** Numbers the sizing text may hold that do not come from the report. */
const CONSTANTS = new Set([
  '20', // Node 20
  '24', // Node 24
  '1', // 1 MiB/s per shard
  format(KINESIS_SHARD_RECORDS), // records/s per shard
  '1,000,000', // µs in a second
  '130', // an envelope's own bytes, besides the event and the User-Agent (src/events/envelope.ts)
]);

describe('docs/deploying.md, Sizing', () => {
  const text = section(read('docs/deploying.md'), 'Sizing');
  const figures = expectedFigures();

  it(`states the figures of ${REPORT} and what follows from them`, () => {
    for (const [what, figure] of Object.entries(figures)) assert.ok(text.includes(figure), `${what}: the text should say ${JSON.stringify(figure)}`);
  });

  it('holds no number that neither the report nor a stated constant gives', () => {
    const known = new Set([...CONSTANTS, ...Object.values(figures).flatMap((figure) => figure.match(/\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?/g) ?? [])]);
    const prose = text.replace(/`[^`]*`/g, '').replace(/\[[^\]]*\]\([^)]*\)/g, ''); // code and links name files and flags
    const numbers = prose.match(/\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?/g) ?? [];
    assert.ok(numbers.length > 20);
    const unknown = numbers.filter((n) => !known.has(n));
    assert.deepEqual(unknown, [], `numbers in the sizing text that ${REPORT} does not give`);
  });
});
