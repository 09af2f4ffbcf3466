# syntax=docker/dockerfile:1
# kinesis-gateway behind a load balancer: Node 24 on Debian 13, which the official uWebSockets.js
# 20.57.0 build needs (glibc >= 2.38). The install steps live in deploy/image/install.sh, which CI
# runs in the same Debian 13 + Node 24 (deploy/check-image.sh). See docs/deploying.md.
#
#   docker build -t kinesis-gateway .
#   docker run --rm -p 8080:8080 -p 9464:9464 -e AWS_REGION=eu-west-1 -e GATEWAY_STREAM=events kinesis-gateway
#
# With neither AWS_REGION nor GATEWAY_KINESIS_ENDPOINT the gateway starts its embedded local Kinesis.

ARG NODE_MAJOR=24

FROM node:${NODE_MAJOR}-trixie AS build
WORKDIR /src
COPY . .
RUN bash deploy/image/install.sh app /src /opt/kinesis-gateway

FROM node:${NODE_MAJOR}-trixie-slim
COPY deploy/image/install.sh /usr/local/lib/kinesis-gateway-install.sh
RUN bash /usr/local/lib/kinesis-gateway-install.sh system && rm /usr/local/lib/kinesis-gateway-install.sh
COPY --from=build /opt/kinesis-gateway /opt/kinesis-gateway
WORKDIR /opt/kinesis-gateway
ENV NODE_ENV=production
# Numeric, so that Kubernetes' runAsNonRoot can check it: the node user of the Node images.
USER 1000:1000
VOLUME ["/var/lib/kinesis-gateway/spool", "/var/lib/kinesis-gateway/dead-letter"]
# 8080: events (behind the load balancer); 9464: /healthz, /readyz and /metrics (health checks, Prometheus).
EXPOSE 8080 9464
# SIGTERM: readiness drops, events are still taken for the drain delay, then everything buffered ships.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["node", "/opt/kinesis-gateway/healthcheck.js"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/src/cli.js"]
CMD ["serve", "--trust-proxy-hops", "1", "--spool-dir", "/var/lib/kinesis-gateway/spool", "--dead-letter-file", "/var/lib/kinesis-gateway/dead-letter/dead-letter.ndjson", "--drain-delay-ms", "15000", "--shutdown-timeout-ms", "30000"]
