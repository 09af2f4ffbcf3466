// The image's HEALTHCHECK: liveness on the admin port (the slim image has no curl). Exit 0 when
// /healthz answers 200 within two seconds, 1 otherwise.
'use strict';
const port = process.env.GATEWAY_ADMIN_PORT || '9464';
fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
  (response) => process.exit(response.ok ? 0 : 1),
  () => process.exit(1),
);
