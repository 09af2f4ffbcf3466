// The most any uWebSockets.js gateway could do here: read the body, answer 204, nothing else.

import * as uws from 'uWebSockets.js';

const app = uws.App();
app.post('/v1/events', (res) => {
  res.onAborted(() => {});
  res.onData((_chunk, isLast) => {
    if (isLast) res.cork(() => res.writeStatus('204 No Content').end());
  });
});
app.listen('127.0.0.1', 0, (token) => {
  if (!token) process.exit(1);
  process.stdout.write(JSON.stringify({ msg: 'listening', port: uws.us_socket_local_port(token) }) + '\n');
});
