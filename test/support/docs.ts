// The project's documents: the README and every docs/*.md, for the tests that keep them true.

import { readdirSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.join(__dirname, '..', '..', '..');
export const DOCS = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];
