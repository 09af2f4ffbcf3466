// docker-compose.yml: the gateway (built from the Dockerfile, on its embedded local Kinesis),
// Prometheus scraping it and Grafana with the provisioned dashboard; every file it mounts exists.

import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { flag, imageStage, instruction, type Manifest, ROOT, settings, yamlFile } from './artefacts';

const { gateway, timing } = settings;
const compose = yamlFile('docker-compose.yml');
const services: Record<string, Manifest> = compose.services;

/** [host path, container path, options] of each bind mount (relative host paths only). */
function bindMounts(service: Manifest): [string, string][] {
  return (service.volumes ?? []).filter((v: string) => v.startsWith('./')).map((v: string) => v.split(':').slice(0, 2) as [string, string]);
}

describe('docker-compose.yml', () => {
  it('has the gateway, Prometheus and Grafana', () => {
    assert.deepEqual(Object.keys(services).sort(), ['gateway', 'grafana', 'prometheus']);
  });

  it('builds the gateway from the Dockerfile and runs it on its embedded local Kinesis, with nothing in front', () => {
    const service = services.gateway;
    assert.equal(service.build, '.');
    const env = service.environment ?? {};
    for (const name of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'GATEWAY_REGION', 'GATEWAY_KINESIS_ENDPOINT', 'AWS_ENDPOINT_URL'])
      assert.equal(env[name], undefined, name);
    const command: string[] = service.command;
    assert.equal(command[0], 'serve');
    assert.equal(flag(command, '--region'), undefined);
    assert.equal(flag(command, '--kinesis-endpoint'), undefined);
    assert.equal(flag(command, '--trust-proxy-hops'), '0', 'no proxy in front: the header would be the client’s word');
    assert.equal(flag(command, '--drain-delay-ms'), '0', 'no load balancer to drain');
    assert.equal(Number(flag(command, '--shutdown-timeout-ms')), timing.shutdownTimeoutMs);
    assert.equal(flag(command, '--spool-dir'), gateway.spoolDir);
    assert.ok(flag(command, '--dead-letter-file')!.startsWith(`${gateway.deadLetterDir}/`));
    // The image's CMD differs only in the flags that are about the load balancer.
    const cmd: string[] = JSON.parse(instruction(imageStage(), 'CMD')!);
    const withoutLbFlags = (args: string[]) =>
      args.filter((_, i) => !['--trust-proxy-hops', '--drain-delay-ms'].includes(args[i]) && !['--trust-proxy-hops', '--drain-delay-ms'].includes(args[i - 1]));
    assert.deepEqual(withoutLbFlags(command), withoutLbFlags(cmd));
  });

  it('gives the gateway its shutdown timeout before SIGKILL, and volumes for the spool and dead letters', () => {
    const service = services.gateway;
    const grace = /^(\d+)s$/.exec(service.stop_grace_period);
    assert.ok(grace, 'stop_grace_period in seconds');
    assert.ok(Number(grace[1]) * 1000 >= Number(flag(service.command, '--drain-delay-ms')) + Number(flag(service.command, '--shutdown-timeout-ms')));
    const volumes = Object.fromEntries(service.volumes.map((v: string) => v.split(':').reverse()));
    assert.ok(volumes[gateway.spoolDir] in compose.volumes);
    assert.ok(volumes[gateway.deadLetterDir] in compose.volumes);
    assert.equal(service.read_only, true);
  });

  it('publishes the gateway’s ports, Prometheus’ and Grafana’s on 127.0.0.1 only', () => {
    assert.deepEqual(services.gateway.ports, [`127.0.0.1:${gateway.publicPort}:${gateway.publicPort}`, `127.0.0.1:${gateway.adminPort}:${gateway.adminPort}`]);
    assert.deepEqual(services.prometheus.ports, ['127.0.0.1:9090:9090']);
    assert.deepEqual(services.grafana.ports, ['127.0.0.1:3000:3000']);
  });

  it('has Prometheus scrape the gateway’s admin port', () => {
    const [[config, inside]] = bindMounts(services.prometheus);
    assert.ok(services.prometheus.command.includes(`--config.file=${inside}`));
    const prometheus = yamlFile(config);
    const targets = prometheus.scrape_configs.flatMap((job: Manifest) => job.static_configs.flatMap((c: Manifest) => c.targets));
    assert.deepEqual(targets, [`gateway:${gateway.adminPort}`]);
  });

  it('provisions Grafana with the dashboard and a Prometheus data source, from files that exist', () => {
    const mounts = bindMounts(services.grafana);
    for (const [host] of mounts) assert.ok(existsSync(path.join(ROOT, host)), `${host} exists`);
    const inside = Object.fromEntries(mounts.map(([host, container]) => [container, host]));
    // The dashboard provider reads the directory the dashboards are mounted at.
    const providers = yamlFile(path.join(inside['/etc/grafana/provisioning/dashboards'], 'kinesis-gateway.yml')).providers;
    const dashboards = inside[providers[0].options.path];
    assert.equal(dashboards, './grafana/dashboards');
    assert.ok(statSync(path.join(ROOT, dashboards, 'kinesis-gateway.json')).isFile());
    assert.equal(services.grafana.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH, `${providers[0].options.path}/kinesis-gateway.json`);
    const datasources = yamlFile(inside['/etc/grafana/provisioning/datasources/prometheus.yml']).datasources;
    assert.deepEqual(
      datasources.map((d: Manifest) => [d.type, d.url]),
      [['prometheus', 'http://prometheus:9090']],
    );
  });
});
