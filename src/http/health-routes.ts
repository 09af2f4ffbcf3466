// Liveness and readiness, served on both the public and the admin port (load balancers check the
// public one; Kubernetes-style probes often use the admin one).

import { sendError, sendJson } from './responses';
import type { Readiness } from './readiness';
import type { RequestMetrics } from './request-metrics';
import type { TemplatedApp } from './uws';
import { RequestError } from '../errors';

/** The routes are added through `app`: the public app adds its checks of the request head. */
export function addHealthRoutes(app: Pick<TemplatedApp, 'get' | 'any'>, readiness: Readiness, metrics: RequestMetrics): void {
  app.get('/healthz', (res) => {
    metrics.answer('/healthz', 200);
    sendJson(res, 200, '{"status":"ok"}');
  });
  app.get('/readyz', (res) => {
    const reason = readiness.notReadyBecause;
    if (reason === undefined) {
      metrics.answer('/readyz', 200);
      sendJson(res, 200, '{"status":"ready"}');
    } else {
      metrics.answer('/readyz', 503);
      sendJson(res, 503, JSON.stringify({ error: 'not_ready', message: reason }));
    }
  });
  for (const path of ['/healthz', '/readyz'] as const) {
    app.any(path, (res, req) => {
      metrics.answer(path, 405);
      sendError(res, RequestError.methodNotAllowed(req.getMethod().toUpperCase(), path, 'GET'));
    });
  }
}
