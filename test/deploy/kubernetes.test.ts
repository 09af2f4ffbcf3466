// deploy/kubernetes/: every object against the Kubernetes schemas (kubernetes-models, and the
// Prometheus operator's for the ServiceMonitor, both compiled into their npm packages: no network),
// no field that no schema knows (a typo such as `readinesProbe` would pass the schemas, which allow
// unknown fields, and be dropped by the API server), then the values that matter behind an ALB.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { flag, kubernetesManifests, kubernetesObject, type Manifest, read, ROOT, settings, yamlFile, KUBERNETES_DIR } from './artefacts';

const { gateway, timing } = settings;

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: Manifest) => Validatable;

/** The kubernetes-models class of an object (ESM packages: loaded with import()). */
async function modelOf(manifest: Manifest): Promise<ModelClass> {
  const [group, version] = manifest.apiVersion.includes('/') ? manifest.apiVersion.split('/') : ['', manifest.apiVersion];
  if (group === 'monitoring.coreos.com') {
    return (await import(`@kubernetes-models/prometheus-operator/${group}/${version}/${manifest.kind}`))[manifest.kind];
  }
  const module = group === '' ? `kubernetes-models/${version}/${manifest.kind}` : `kubernetes-models/${group}/${version}/${manifest.kind}`;
  return (await import(module))[manifest.kind];
}

/** Every property name the packages' compiled schemas check, from their sources. */
function knownFieldNames(): Set<string> {
  const names = new Set<string>();
  const dirs = ['kubernetes-models/_schemas', '@kubernetes-models/apimachinery/_schemas', '@kubernetes-models/prometheus-operator/_schemas'];
  for (const dir of dirs) {
    const full = path.join(ROOT, 'node_modules', dir);
    for (const file of readdirSync(full).filter((f) => f.endsWith('.js'))) {
      for (const match of readFileSync(path.join(full, file), 'utf8').matchAll(/parentDataProperty:"([A-Za-z0-9_$-]+)"/g)) names.add(match[1]);
    }
  }
  return names;
}

/** Maps whose keys are the user's (labels, annotations, selectors): their keys are not fields. */
const FREE_KEYS = new Set(['labels', 'annotations', 'matchLabels', 'nodeSelector', 'limits', 'requests', 'data', 'stringData']);

/** A Service's `selector` is a plain map; a workload's is a LabelSelector (matchLabels, matchExpressions). */
function isFreeMap(key: string, value: unknown): boolean {
  if (FREE_KEYS.has(key)) return true;
  return key === 'selector' && typeof value === 'object' && value !== null && !('matchLabels' in value) && !('matchExpressions' in value);
}

function unknownFields(value: unknown, known: Set<string>, where = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => unknownFields(item, known, `${where}[${i}]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, child]) => [
    ...(known.has(key) ? [] : [`${where}.${key}`]),
    ...(isFreeMap(key, child) ? [] : unknownFields(child, known, `${where}.${key}`)),
  ]);
}

describe('Kubernetes manifests', () => {
  it('are valid against the Kubernetes and Prometheus operator schemas', async () => {
    const manifests = kubernetesManifests();
    assert.deepEqual(manifests.map(({ manifest }) => manifest.kind).sort(), [
      'Deployment',
      'HorizontalPodAutoscaler',
      'Ingress',
      'PodDisruptionBudget',
      'Service',
      'ServiceAccount',
      'ServiceMonitor',
    ]);
    for (const { file, manifest } of manifests) {
      const Model = await modelOf(manifest);
      assert.doesNotThrow(() => new Model(manifest).validate(), `${file} (${manifest.kind})`);
    }
  });

  it('catch a misspelt field, as the schemas alone would not', async () => {
    const deployment = structuredClone(kubernetesObject('Deployment'));
    const container = deployment.spec.template.spec.containers[0];
    container.readinesProbe = container.readinessProbe;
    const Model = await modelOf(deployment);
    assert.doesNotThrow(() => new Model(deployment).validate(), 'the schemas allow unknown fields');
    assert.deepEqual(unknownFields(deployment, knownFieldNames()), ['.spec.template.spec.containers[0].readinesProbe']);
    container.readinessProbe = { httpGet: { path: '/readyz', port: 'admin' }, periodSeconds: 'often' };
    assert.throws(() => new Model(deployment).validate(), /periodSeconds/);
  });

  it('hold no field that no schema knows', () => {
    const known = knownFieldNames();
    for (const { file, manifest } of kubernetesManifests()) assert.deepEqual(unknownFields(manifest, known), [], file);
  });

  it('are all listed in the kustomization', () => {
    const kustomization = yamlFile(`${KUBERNETES_DIR}/kustomization.yaml`);
    const files = [...new Set(kubernetesManifests().map(({ file }) => file))];
    assert.deepEqual([...kustomization.resources].sort(), files.sort());
  });
});

describe('the Deployment', () => {
  const deployment = kubernetesObject('Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];

  it('runs the image’s command, with the flags for a gateway behind an ELB', () => {
    assert.equal(pod.containers.length, 1);
    assert.deepEqual(container.args, gateway.args);
    assert.equal(flag(container.args, '--trust-proxy-hops'), '1');
    assert.equal(Number(flag(container.args, '--drain-delay-ms')), timing.drainDelayMs);
    assert.equal(Number(flag(container.args, '--shutdown-timeout-ms')), timing.shutdownTimeoutMs);
    assert.deepEqual(container.ports, [
      { name: 'events', containerPort: gateway.publicPort },
      { name: 'admin', containerPort: gateway.adminPort },
    ]);
    const env = Object.fromEntries(container.env.map((e: Manifest) => [e.name, e.value]));
    assert.ok(env.GATEWAY_REGION, 'a region: without one the gateway would start its embedded local Kinesis');
    assert.ok(env.GATEWAY_STREAM);
  });

  it('is ready on /readyz and alive on /healthz, both on the admin port', () => {
    assert.deepEqual(container.readinessProbe.httpGet, { path: '/readyz', port: 'admin' });
    assert.deepEqual(container.livenessProbe.httpGet, { path: '/healthz', port: 'admin' });
    assert.deepEqual(container.startupProbe.httpGet, { path: '/healthz', port: 'admin' });
    assert.equal(timing.healthCheck.path, '/readyz');
  });

  it('sleeps in preStop, and gives preStop + drain + shutdown time before SIGKILL', () => {
    assert.deepEqual(container.lifecycle.preStop.exec.command, ['sleep', String(timing.preStopSleepSeconds)]);
    assert.equal(pod.terminationGracePeriodSeconds, timing.terminationGracePeriodSeconds);
    assert.ok(pod.terminationGracePeriodSeconds * 1000 >= timing.preStopSleepSeconds * 1000 + timing.drainDelayMs + timing.shutdownTimeoutMs);
  });

  it('runs as uid 1000 on a read-only root filesystem, with the spool and dead letters on writable volumes', () => {
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.runAsUser, gateway.uid);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(container.securityContext.capabilities.drop, ['ALL']);
    const mounts = Object.fromEntries(container.volumeMounts.map((m: Manifest) => [m.mountPath, m]));
    for (const dir of [gateway.spoolDir, gateway.deadLetterDir, '/tmp']) {
      assert.ok(mounts[dir], `${dir} is mounted`);
      assert.notEqual(mounts[dir].readOnly, true);
      assert.ok(
        pod.volumes.some((v: Manifest) => v.name === mounts[dir].name && v.emptyDir),
        `${dir} is an emptyDir`,
      );
    }
    assert.ok(flag(container.args, '--dead-letter-file')!.startsWith(`${gateway.deadLetterDir}/`));
    assert.equal(flag(container.args, '--spool-dir'), gateway.spoolDir);
  });
});

describe('the ALB Ingress', () => {
  const ingress = kubernetesObject('Ingress');
  const annotations: Record<string, string> = ingress.metadata.annotations;
  const attributes = (name: string) => Object.fromEntries(annotations[name].split(',').map((pair) => pair.split('=')));

  it('gives up idle connections before the image’s uWS build closes them', () => {
    const idle = Number(attributes('alb.ingress.kubernetes.io/load-balancer-attributes')['idle_timeout.timeout_seconds']);
    assert.equal(idle, timing.albIdleTimeoutSeconds);
    assert.ok(idle <= timing.uwsIdleCloseSeconds.official.min - timing.idleMarginSeconds);
  });

  it('checks /readyz on the admin port and keeps a deregistered pod for the drain delay', () => {
    assert.equal(annotations['alb.ingress.kubernetes.io/healthcheck-path'], timing.healthCheck.path);
    assert.equal(annotations['alb.ingress.kubernetes.io/healthcheck-port'], String(gateway.adminPort));
    assert.equal(Number(annotations['alb.ingress.kubernetes.io/healthcheck-interval-seconds']), timing.healthCheck.intervalSeconds);
    assert.equal(Number(annotations['alb.ingress.kubernetes.io/healthcheck-timeout-seconds']), timing.healthCheck.timeoutSeconds);
    assert.equal(Number(annotations['alb.ingress.kubernetes.io/healthy-threshold-count']), timing.healthCheck.healthyThreshold);
    assert.equal(Number(annotations['alb.ingress.kubernetes.io/unhealthy-threshold-count']), timing.healthCheck.unhealthyThreshold);
    const delay = Number(attributes('alb.ingress.kubernetes.io/target-group-attributes')['deregistration_delay.timeout_seconds']);
    assert.equal(delay, timing.deregistrationDelaySeconds);
    assert.ok(delay * 1000 >= timing.drainDelayMs);
    assert.equal(annotations['alb.ingress.kubernetes.io/target-type'], 'ip');
  });

  it('routes to the Service’s events port over HTTPS', () => {
    assert.equal(ingress.spec.ingressClassName, 'alb');
    assert.match(annotations['alb.ingress.kubernetes.io/listen-ports'], /"HTTPS": 443/);
    assert.ok(annotations['alb.ingress.kubernetes.io/certificate-arn']);
    const backend = ingress.spec.rules[0].http.paths[0].backend.service;
    const service = kubernetesObject('Service');
    assert.equal(backend.name, service.metadata.name);
    const port = service.spec.ports.find((p: Manifest) => p.name === backend.port.name);
    assert.equal(port.targetPort, 'events');
  });
});

describe('the other objects', () => {
  const labels = kubernetesObject('Deployment').spec.template.metadata.labels;
  const selects = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

  it('the Service, PodDisruptionBudget and ServiceMonitor select the Deployment’s pods', () => {
    assert.ok(selects(kubernetesObject('Service').spec.selector));
    assert.ok(selects(kubernetesObject('PodDisruptionBudget').spec.selector.matchLabels));
    const monitor = kubernetesObject('ServiceMonitor');
    assert.ok(Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => kubernetesObject('Service').metadata.labels[k] === v));
  });

  it('the ServiceMonitor scrapes /metrics on the admin port', () => {
    const [endpoint] = kubernetesObject('ServiceMonitor').spec.endpoints;
    assert.equal(endpoint.port, 'admin');
    assert.equal(endpoint.path, '/metrics');
    const admin = kubernetesObject('Service').spec.ports.find((p: Manifest) => p.name === 'admin');
    assert.equal(admin.port, gateway.adminPort);
  });

  it('the HorizontalPodAutoscaler scales the Deployment on CPU', () => {
    const hpa = kubernetesObject('HorizontalPodAutoscaler');
    assert.equal(hpa.spec.scaleTargetRef.name, kubernetesObject('Deployment').metadata.name);
    assert.equal(hpa.spec.metrics[0].resource.name, 'cpu');
    assert.ok(hpa.spec.minReplicas >= 2);
  });

  it('the ServiceAccount’s IAM policy allows exactly the three Kinesis actions, on one stream', () => {
    const account = kubernetesObject('ServiceAccount');
    assert.equal(kubernetesObject('Deployment').spec.template.spec.serviceAccountName, account.metadata.name);
    assert.ok(account.metadata.annotations['eks.amazonaws.com/role-arn']);
    const policy = JSON.parse(read(`${KUBERNETES_DIR}/iam-policy.json`));
    assert.equal(policy.Statement.length, 1);
    assert.deepEqual(policy.Statement[0].Action, ['kinesis:PutRecords', 'kinesis:ListShards', 'kinesis:DescribeStreamSummary']);
    assert.match(policy.Statement[0].Resource, /^arn:aws:kinesis:[a-z0-9-]+:\d{12}:stream\/[A-Za-z0-9_.-]+$/);
  });
});
