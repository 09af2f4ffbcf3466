// The reference: a bare uWebSockets.js endpoint on the gateway's own build (the project's loader,
// so the legacy build on Node 20 and the official one on Node 24). It does the least any gateway
// must: read the body into memory and answer 202 with the gateway's JSON, nothing else.

import { NATIVE_UWS, UWS_BUILD, uws, uwsFallbackProblem } from '../src/http/uws';

if (!NATIVE_UWS) {
  process.stderr.write(`${uwsFallbackProblem()}\n`);
  process.exit(1);
}

// Its constant bytes are encoded once, as the gateway's are (src/http/responses.ts).
const ACCEPTED = Buffer.from('{"accepted":1}');
const STATUS = Buffer.from('202 Accepted');
const CONTENT_TYPE = Buffer.from('Content-Type');
const JSON_TYPE = Buffer.from('application/json');

const app = uws.App();
app.post('/v1/events', (res) => {
  let aborted = false;
  let body = Buffer.alloc(0);
  res.onAborted(() => (aborted = true));
  res.onData((chunk, isLast) => {
    // Copied, as the gateway copies it into its ring: the ArrayBuffer is neutered when this returns.
    body = Buffer.concat([body, Buffer.from(chunk)]);
    // uWS corks the writes of its own callbacks: no res.cork needed here.
    if (isLast && !aborted) res.writeStatus(STATUS).writeHeader(CONTENT_TYPE, JSON_TYPE).end(ACCEPTED);
  });
});
app.listen('127.0.0.1', 0, (token) => {
  if (!token) process.exit(1);
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port: uws.us_socket_local_port(token), uws: UWS_BUILD })}\n`);
});
