// The admin listener: Prometheus metrics and health, kept off the public port.

import type { Registry } from 'prom-client';
import { RequestError } from '../errors';
import { addHealthRoutes } from './health-routes';
import type { Readiness } from './readiness';
import type { RequestMetrics } from './request-metrics';
import { sendError } from './responses';
import { uws, type TemplatedApp } from './uws';

export function createAdminApp(registry: Registry, readiness: Readiness, metrics: RequestMetrics): TemplatedApp {
  const app = uws.App();
  app.get('/metrics', (res) => {
    let aborted = false;
    res.onAborted(() => (aborted = true));
    registry.metrics().then(
      (text) => {
        if (aborted) return;
        res.cork(() => res.writeStatus('200 OK').writeHeader('Content-Type', registry.contentType).end(text));
      },
      (err: Error) => {
        if (aborted) return;
        res.cork(() => sendError(res, new RequestError('internal', `metrics could not be collected: ${err.message}`)));
      },
    );
  });
  addHealthRoutes(app, readiness, metrics);
  app.any('/*', (res, req) => sendError(res, new RequestError('not_found', `no route ${req.getMethod().toUpperCase()} ${req.getUrl()}`)));
  return app;
}
