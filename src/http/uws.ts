// Loads uWebSockets.js and tells whether its native binary loaded. The package we depend on falls
// back silently (a console warning only) to a pure-Node server many times slower when its binary
// does not load for this platform or Node ABI; the gateway must not run on that by accident.

import * as uws from 'uWebSockets.js';

export { uws };
export type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';

export const NATIVE_UWS = /\[native code\]/.test(Function.prototype.toString.call(uws.App));

export function uwsFallbackProblem(): string {
  return (
    `uWebSockets.js could not load its native binary for ${process.platform}-${process.arch} with Node ABI ` +
    `${process.versions.modules} (Node ${process.version}) and fell back to a pure-Node server that is many times ` +
    'slower. Use a Node version the package ships binaries for (Node 18, 20 or 21 on linux-x64/arm64), ' +
    'unset UWS_USE_FALLBACK, or pass --allow-uws-fallback to run slowly on purpose.'
  );
}
