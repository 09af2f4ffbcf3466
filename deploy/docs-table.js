// Reads the tables of docs/deploying.md, for the tests that compare them with the artefacts (the
// root's test/deploy/ and deploy/aws/test/). Plain CommonJS, so both packages can require it.
'use strict';

/**
 * The first table after the line `## <heading>`, as rows keyed by their first cell.
 * @param {string} markdown
 * @param {string} heading
 * @returns {{ columns: string[], rows: Map<string, Record<string, string>> }}
 */
function readTable(markdown, heading) {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => line.trim() === `## ${heading}`);
  if (start < 0) throw new Error(`docs/deploying.md has no section "## ${heading}"`);
  const first = lines.findIndex((line, i) => i > start && line.startsWith('|'));
  if (first < 0 || lines.slice(start + 1, first).some((line) => line.startsWith('## '))) throw new Error(`the section "${heading}" has no table`);
  const cells = (line) => line.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((cell) => cell.trim());
  const columns = cells(lines[first]);
  const rows = new Map();
  for (let i = first + 2; i < lines.length && lines[i].startsWith('|'); i++) {
    const values = cells(lines[i]);
    rows.set(values[0], Object.fromEntries(columns.map((column, c) => [column, values[c] ?? ''])));
  }
  return { columns, rows };
}

/**
 * A cell's value: a number with its unit converted ("20 s" → 20, "15000 ms" → 15000, "2" → 2),
 * undefined for "—", or the text itself (backquotes removed) when it is not a number.
 * @param {string} cell
 * @returns {number | string | undefined}
 */
function cellValue(cell) {
  if (cell === '—' || cell === '') return undefined;
  const number = /^(\d+(?:\.\d+)?)( ?(s|ms))?$/.exec(cell);
  if (number) return Number(number[1]);
  return cell.replace(/`/g, '');
}

module.exports = { readTable, cellValue };
