// Loads uWebSockets.js from one of two builds and says which one runs. Neither build is on the npm
// registry from its maintainers; both come through npm aliases (package.json):
// - `uWebSockets.js`: the official v20.57.0 binaries (republished as @btc-vision/uwebsockets.js) for
//   Node 20, 22, 24 and 25; their Linux binaries need glibc 2.38 or newer.
// - `uws-legacy`: an unofficial 20.30.0 republish for Node 16, 18 and 20 on older glibc.
// The legacy package falls back silently (a console warning only) to a pure-Node server many times
// slower when its binary does not load: its binary is loaded here directly instead, so that the
// gateway knows, and that slow server is used only when asked for.

import { createRequire } from 'node:module';
import type * as Uws from 'uWebSockets.js';

export type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';

export interface UwsBuild {
  /** The uWebSockets.js version of the build that runs. */
  readonly version: string;
  /** 'official': the preferred build; 'legacy': the Node 20 build for glibc < 2.38; 'fallback': the pure-Node server. */
  readonly kind: 'official' | 'legacy' | 'fallback';
  readonly native: boolean;
}

export const OFFICIAL_UWS_VERSION = '20.57.0';
export const LEGACY_UWS_VERSION = '20.30.0';
/** The official build's Linux binaries call glibc 2.38's __isoc23_* functions. */
const OFFICIAL_MIN_GLIBC = '2.38';
const LEGACY_NODE_ABIS = ['93', '108', '115'];

const load = createRequire(__filename);

/**
 * The official build answers a bare 431 and closes when a request head (request line and headers)
 * passes UWS_HTTP_MAX_HEADERS_SIZE, 4 KiB unless set, read when the binary loads. It is raised
 * above the gateway's own limits (the largest --max-url-bytes and --max-header-bytes together), so
 * that the gateway answers those with its JSON errors, as it does on the legacy build, which has no
 * such limit.
 */
export const UWS_HEAD_LIMIT_BYTES = 64 * 1024;

/** The glibc this process runs on, or undefined (musl, macOS, Windows). */
export function glibcVersion(): string | undefined {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime;
}

/** An error's first line: a failed require goes on with its require stack. */
function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n').find((line) => line.trim() !== '') ?? text;
}

/** What the refusal names about the machine. */
export interface PlatformFacts {
  readonly platform: string;
  readonly arch: string;
  readonly nodeVersion: string;
  /** Node's native-module ABI (process.versions.modules). */
  readonly abi: string;
  readonly glibc: string | undefined;
}

function thisPlatform(): PlatformFacts {
  return { platform: process.platform, arch: process.arch, nodeVersion: process.version, abi: process.versions.modules, glibc: glibcVersion() };
}

/** Why the official build did not load, with the glibc it needs when the machine's is older. */
export function officialLoadFailure(facts: PlatformFacts, err: unknown): string {
  const glibcNote = facts.glibc && compareVersions(facts.glibc, OFFICIAL_MIN_GLIBC) < 0 ? ` (it needs glibc ${OFFICIAL_MIN_GLIBC}, found ${facts.glibc})` : '';
  return `The official ${OFFICIAL_UWS_VERSION} build did not load${glibcNote}: ${firstLine(err)}.`;
}

/** Why the legacy build did not load, with the Node ABIs it has binaries for when the machine's is not one. */
export function legacyLoadFailure(facts: PlatformFacts, err: unknown): string {
  const abiNote = LEGACY_NODE_ABIS.includes(facts.abi) ? '' : ` (it has binaries for Node ABIs ${LEGACY_NODE_ABIS.join(', ')} only, Node 16 to 20)`;
  return `The legacy ${LEGACY_UWS_VERSION} build did not load${abiNote}: ${firstLine(err)}.`;
}

/** The refusal to start: what was tried on which machine, and the remedies. */
export function noNativeBuildMessage(facts: PlatformFacts, attempts: readonly string[]): string {
  return (
    `uWebSockets.js could not load a native binary for ${facts.platform}-${facts.arch}, Node ${facts.nodeVersion} ` +
    `(ABI ${facts.abi})${facts.glibc ? `, glibc ${facts.glibc}` : ''}. ` +
    `${attempts.join(' ')} ` +
    `Remedies: run Node 24 (or 22) on glibc ${OFFICIAL_MIN_GLIBC} or newer (Debian 13, Ubuntu 24.04, the node:24-trixie-slim image) ` +
    `for the official build; or Node 20 for the legacy build on an older glibc; ` +
    'or, for development only, pass --allow-uws-fallback to run on a pure-Node server that is many times slower.'
  );
}

interface Loaded {
  readonly module: typeof Uws;
  readonly build: UwsBuild;
  /** Why no native build loaded; empty when one did. */
  readonly problem: string;
}

function loadUws(): Loaded {
  const attempts: string[] = [];
  const facts = thisPlatform();
  // UWS_USE_FALLBACK is the legacy package's own switch to its pure-Node server; the tests use it
  // to prove that the gateway notices.
  const forced = /^(1|true)$/i.test(process.env.UWS_USE_FALLBACK ?? '');
  if (forced) {
    attempts.push('UWS_USE_FALLBACK is set, so no native build was tried.');
  } else {
    process.env.UWS_HTTP_MAX_HEADERS_SIZE ??= String(UWS_HEAD_LIMIT_BYTES);
    try {
      return { module: load('uWebSockets.js'), build: { version: OFFICIAL_UWS_VERSION, kind: 'official', native: true }, problem: '' };
    } catch (err) {
      attempts.push(officialLoadFailure(facts, err));
    }
    try {
      const binary = load(`uws-legacy/binaries/uws_${facts.platform}_${facts.arch}_${facts.abi}.node`);
      return { module: binary, build: { version: LEGACY_UWS_VERSION, kind: 'legacy', native: true }, problem: '' };
    } catch (err) {
      attempts.push(legacyLoadFailure(facts, err));
    }
  }
  return {
    module: load('uws-legacy/dist/index'),
    build: { version: LEGACY_UWS_VERSION, kind: 'fallback', native: false },
    problem: noNativeBuildMessage(facts, attempts),
  };
}

/** -1, 0 or 1 as dotted version a is before, equal to or after b. */
export function compareVersions(a: string, b: string): number {
  const left = a.split('.').map(Number);
  const right = b.split('.').map(Number);
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const difference = (left[i] ?? 0) - (right[i] ?? 0);
    if (difference !== 0) return Math.sign(difference);
  }
  return 0;
}

const loaded = loadUws();

export const uws: typeof Uws = loaded.module;
export const UWS_BUILD: UwsBuild = loaded.build;
export const NATIVE_UWS = loaded.build.native;

/** Why the gateway would run on the slow pure-Node server; empty when a native build loaded. */
export function uwsFallbackProblem(): string {
  return loaded.problem;
}
