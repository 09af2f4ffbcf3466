// `npm run coverage` writes node's test coverage as LCOV; this prints the figures for src/ only,
// each file with its uncovered lines, so that a gap in the tests is named rather than averaged away.
// The lines are those of the compiled JavaScript (coverage-dist/src): Node 20's coverage fails on
// tsc's source maps, so the coverage build has none.
// Usage: node coverage-dist/test/support/coverage-report.js coverage-dist/lcov.info

import { readFileSync } from 'node:fs';
import path from 'node:path';

interface FileCoverage {
  readonly file: string;
  /** Line number → covered, merged over every record of the file. */
  readonly lines: Map<number, boolean>;
}

function parseLcov(text: string): Map<string, FileCoverage> {
  const files = new Map<string, FileCoverage>();
  let current: FileCoverage | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('SF:')) {
      const file = line.slice(3);
      current = files.get(file) ?? { file, lines: new Map() };
      files.set(file, current);
    } else if (line.startsWith('DA:') && current) {
      const [lineNo, count] = line.slice(3).split(',').map(Number);
      current.lines.set(lineNo, (current.lines.get(lineNo) ?? false) || count > 0);
    }
  }
  return files;
}

/** [3, 4, 5, 9] → "3-5 9" */
function ranges(lines: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    let j = i;
    while (j + 1 < lines.length && lines[j + 1] === lines[j] + 1) j++;
    out.push(i === j ? `${lines[i]}` : `${lines[i]}-${lines[j]}`);
    i = j;
  }
  return out.join(' ');
}

const root = path.resolve(__dirname, '..', '..', '..');
let total = 0;
let covered = 0;
const rows: string[] = [];
for (const { file, lines } of [...parseLcov(readFileSync(process.argv[2] ?? 'coverage-dist/lcov.info', 'utf8')).values()].sort((a, b) =>
  a.file.localeCompare(b.file),
)) {
  const relative = path.relative(root, path.resolve(root, file));
  if (!/^(coverage-dist\/|dist\/)?src\//.test(relative)) continue;
  const uncovered = [...lines]
    .filter(([, hit]) => !hit)
    .map(([n]) => n)
    .sort((a, b) => a - b);
  total += lines.size;
  covered += lines.size - uncovered.length;
  const percent = ((100 * (lines.size - uncovered.length)) / Math.max(1, lines.size)).toFixed(1).padStart(5);
  rows.push(`${percent}%  ${relative}${uncovered.length > 0 ? `  uncovered: ${ranges(uncovered)}` : ''}`);
}
process.stdout.write(`${rows.join('\n')}\nsrc/ line coverage: ${((100 * covered) / Math.max(1, total)).toFixed(1)}% (${covered} of ${total} lines)\n`);
