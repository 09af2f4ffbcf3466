// The refusal to start when no native uWS build loads must say why on that machine and what to do.
// The machine is described to the message builder, so that every case is checked on any machine.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { legacyLoadFailure, noNativeBuildMessage, officialLoadFailure, type PlatformFacts } from '../../src/http/uws';

const node24OnDebian12: PlatformFacts = { platform: 'linux', arch: 'x64', nodeVersion: 'v24.21.0', abi: '137', glibc: '2.36' };
const node20OnDebian13: PlatformFacts = { platform: 'linux', arch: 'x64', nodeVersion: 'v20.20.2', abi: '115', glibc: '2.41' };
const undefinedSymbol = new Error('/app/node_modules/uWebSockets.js/uws_linux_x64_137.node: undefined symbol: __isoc23_strtol');
const missingBinary = new Error("Cannot find module 'uws-legacy/binaries/uws_linux_x64_137.node'\nRequire stack:\n- /app/dist/src/http/uws.js");

describe('the refusal when no native uWebSockets.js build loads', () => {
  it('names the glibc the official build needs and the one found, when it is older', () => {
    assert.equal(
      officialLoadFailure(node24OnDebian12, undefinedSymbol),
      'The official 20.57.0 build did not load (it needs glibc 2.38, found 2.36): /app/node_modules/uWebSockets.js/uws_linux_x64_137.node: undefined symbol: __isoc23_strtol.',
    );
    assert.doesNotMatch(officialLoadFailure(node20OnDebian13, undefinedSymbol), /needs glibc/, 'a new enough glibc is not blamed');
    assert.doesNotMatch(officialLoadFailure({ ...node24OnDebian12, glibc: undefined }, undefinedSymbol), /needs glibc/, 'nor is a machine without glibc');
  });

  it('names the Node ABIs the legacy build has, when this Node is not one of them', () => {
    assert.equal(
      legacyLoadFailure(node24OnDebian12, missingBinary),
      "The legacy 20.30.0 build did not load (it has binaries for Node ABIs 93, 108, 115 only, Node 16 to 20): Cannot find module 'uws-legacy/binaries/uws_linux_x64_137.node'.",
    );
    assert.doesNotMatch(legacyLoadFailure(node20OnDebian13, missingBinary), /binaries for Node ABIs/);
  });

  it('says which machine, what was tried, and every remedy', () => {
    const attempts = [officialLoadFailure(node24OnDebian12, undefinedSymbol), legacyLoadFailure(node24OnDebian12, missingBinary)];
    const message = noNativeBuildMessage(node24OnDebian12, attempts);
    assert.ok(message.startsWith('uWebSockets.js could not load a native binary for linux-x64, Node v24.21.0 (ABI 137), glibc 2.36. '), message);
    for (const attempt of attempts) assert.ok(message.includes(attempt));
    for (const remedy of [
      'Node 24 (or 22) on glibc 2.38 or newer',
      'Debian 13',
      'Ubuntu 24.04',
      'node:24-trixie-slim',
      'Node 20 for the legacy build',
      '--allow-uws-fallback',
    ]) {
      assert.ok(message.includes(remedy), `names ${remedy}`);
    }
    assert.doesNotMatch(noNativeBuildMessage({ ...node24OnDebian12, glibc: undefined }, attempts), /glibc 2\.36/);
  });
});
