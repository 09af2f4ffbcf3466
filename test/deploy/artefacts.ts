// The deployment artefacts, read for the tests of test/deploy/: deploy/settings.json, the
// Dockerfile's instructions, the Kubernetes manifests, docker-compose.yml and docs/deploying.md.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import type { Settings } from '../../deploy/aws/lib/settings';

export type { Settings };

export const ROOT = path.join(__dirname, '..', '..', '..');

export function read(relative: string): string {
  return readFileSync(path.join(ROOT, relative), 'utf8');
}

export const settings: Settings = JSON.parse(read('deploy/settings.json'));

/** The value after a flag in an argument list (undefined when the flag is absent). */
export function flag(args: readonly string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at < 0 ? undefined : args[at + 1];
}

export interface Instruction {
  readonly keyword: string;
  readonly value: string;
}

/** The Dockerfile as stages of instructions (continuation lines joined, comments dropped). */
export function dockerfileStages(): Instruction[][] {
  const lines = read('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: Instruction[][] = [[]];
  for (const line of lines) {
    const [, keyword, value] = /^(\S+)\s+(.*)$/.exec(line)!;
    if (keyword.toUpperCase() === 'FROM') stages.push([]);
    stages[stages.length - 1].push({ keyword: keyword.toUpperCase(), value });
  }
  return stages;
}

/** The last value of an instruction in a stage. */
export function instruction(stage: Instruction[], keyword: string): string | undefined {
  return stage.filter((i) => i.keyword === keyword).pop()?.value;
}

/** The image's stage: the last one. */
export function imageStage(): Instruction[] {
  const stages = dockerfileStages();
  return stages[stages.length - 1];
}

export function imageCmd(): string[] {
  return JSON.parse(instruction(imageStage(), 'CMD')!);
}

// Kubernetes manifests: any object with these fields; the schema tests check the shapes.
// biome-ignore lint/suspicious/noExplicitAny: manifests are free-form YAML; the schema tests check their shapes
export type Manifest = Record<string, any>;

export const KUBERNETES_DIR = 'deploy/kubernetes';

/** Every Kubernetes object in deploy/kubernetes/*.yaml, except the kustomization, with its file. */
export function kubernetesManifests(): { file: string; manifest: Manifest }[] {
  const files = readdirSync(path.join(ROOT, KUBERNETES_DIR))
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .sort();
  return files.flatMap((file) =>
    parseAllDocuments(read(`${KUBERNETES_DIR}/${file}`)).map((document) => {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors.map((e) => e.message).join('; ')}`);
      return { file, manifest: document.toJS() as Manifest };
    }),
  );
}

export function kubernetesObject(kind: string): Manifest {
  const found = kubernetesManifests().filter(({ manifest }) => manifest.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind} in ${KUBERNETES_DIR}, found ${found.length}`);
  return found[0].manifest;
}

export function yamlFile(relative: string): Manifest {
  return parseYaml(read(relative));
}
