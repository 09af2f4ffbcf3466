// docs/deploying.md against the artefacts: every value of its tables is read from the Dockerfile,
// the Kubernetes manifests, docker-compose.yml and deploy/settings.json (which the CDK app reads;
// deploy/aws's tests compare the ECS column with the synthesized template). The section "Behind an
// AWS load balancer" of docs/operations.md against deploy/settings.json. Also the Dockerfile's own promises:
// stages, user, signal, init, volumes, ports, health check.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dockerfileStages, flag, imageCmd, imageStage, instruction, kubernetesObject, read, ROOT, settings, yamlFile } from './artefacts';

interface DocsTable {
  columns: string[];
  rows: Map<string, Record<string, string>>;
}
const { readTable, cellValue }: { readTable(markdown: string, heading: string): DocsTable; cellValue(cell: string): number | string | undefined } = require(
  `${ROOT}/deploy/docs-table.js`,
);

const { gateway, timing } = settings;
const docs = read('docs/deploying.md');

type Column = 'image (Dockerfile)' | 'ECS (deploy/aws)' | 'Kubernetes (deploy/kubernetes)' | 'docker compose';
type Values = Partial<Record<Column, number | string>>;

/** What each artefact says for each row of the timing chain's table (absent: the artefact has no such setting). */
function artefactValues(): Record<string, Values> {
  const cmd = imageCmd();
  const pod = kubernetesObject('Deployment').spec.template.spec;
  const args: string[] = pod.containers[0].args;
  const annotations: Record<string, string> = kubernetesObject('Ingress').metadata.annotations;
  const attribute = (annotation: string, key: string) => Number(Object.fromEntries(annotations[annotation].split(',').map((p) => p.split('=')))[key]);
  const compose = yamlFile('docker-compose.yml').services.gateway;
  const composeArgs: string[] = compose.command;
  const number = (value: string | undefined) => (value === undefined ? undefined : Number(value));
  const ecsArgs = gateway.args; // the CDK app's command (deploy/aws asserts its template)
  return {
    'ALB idle timeout': {
      'ECS (deploy/aws)': timing.albIdleTimeoutSeconds,
      'Kubernetes (deploy/kubernetes)': attribute('alb.ingress.kubernetes.io/load-balancer-attributes', 'idle_timeout.timeout_seconds'),
    },
    'health check path': {
      'ECS (deploy/aws)': `${timing.healthCheck.path} on ${gateway.adminPort}`,
      'Kubernetes (deploy/kubernetes)': `${annotations['alb.ingress.kubernetes.io/healthcheck-path']} on ${annotations['alb.ingress.kubernetes.io/healthcheck-port']}`,
    },
    'health check interval': {
      'ECS (deploy/aws)': timing.healthCheck.intervalSeconds,
      'Kubernetes (deploy/kubernetes)': Number(annotations['alb.ingress.kubernetes.io/healthcheck-interval-seconds']),
    },
    'unhealthy threshold': {
      'ECS (deploy/aws)': timing.healthCheck.unhealthyThreshold,
      'Kubernetes (deploy/kubernetes)': Number(annotations['alb.ingress.kubernetes.io/unhealthy-threshold-count']),
    },
    'drain delay': {
      'image (Dockerfile)': number(flag(cmd, '--drain-delay-ms')),
      'ECS (deploy/aws)': number(flag(ecsArgs, '--drain-delay-ms')),
      'Kubernetes (deploy/kubernetes)': number(flag(args, '--drain-delay-ms')),
      'docker compose': number(flag(composeArgs, '--drain-delay-ms')),
    },
    'deregistration delay': {
      'ECS (deploy/aws)': timing.deregistrationDelaySeconds,
      'Kubernetes (deploy/kubernetes)': attribute('alb.ingress.kubernetes.io/target-group-attributes', 'deregistration_delay.timeout_seconds'),
    },
    'preStop sleep': {
      'Kubernetes (deploy/kubernetes)': Number(pod.containers[0].lifecycle.preStop.exec.command[1]),
    },
    'shutdown timeout': {
      'image (Dockerfile)': number(flag(cmd, '--shutdown-timeout-ms')),
      'ECS (deploy/aws)': number(flag(ecsArgs, '--shutdown-timeout-ms')),
      'Kubernetes (deploy/kubernetes)': number(flag(args, '--shutdown-timeout-ms')),
      'docker compose': number(flag(composeArgs, '--shutdown-timeout-ms')),
    },
    'time before SIGKILL': {
      'ECS (deploy/aws)': timing.ecsStopTimeoutSeconds,
      'Kubernetes (deploy/kubernetes)': pod.terminationGracePeriodSeconds,
      'docker compose': Number(/^(\d+)s$/.exec(compose.stop_grace_period)![1]),
    },
    'trust proxy hops': {
      'image (Dockerfile)': number(flag(cmd, '--trust-proxy-hops')),
      'ECS (deploy/aws)': number(flag(ecsArgs, '--trust-proxy-hops')),
      'Kubernetes (deploy/kubernetes)': number(flag(args, '--trust-proxy-hops')),
      'docker compose': number(flag(composeArgs, '--trust-proxy-hops')),
    },
  };
}

describe('docs/deploying.md', () => {
  it('states, in the timing chain’s table, the values every artefact uses', () => {
    const table = readTable(docs, 'The timing chain');
    const artefacts = artefactValues();
    assert.deepEqual([...table.rows.keys()], Object.keys(artefacts), 'one row per link of the chain, in this order');
    const columns = table.columns.slice(2) as Column[];
    assert.deepEqual(columns, ['image (Dockerfile)', 'ECS (deploy/aws)', 'Kubernetes (deploy/kubernetes)', 'docker compose']);
    for (const [row, values] of Object.entries(artefacts)) {
      for (const column of columns) {
        assert.equal(cellValue(table.rows.get(row)![column]), values[column], `${row}, ${column}`);
      }
    }
  });

  it('states the measured uWS idle closes and the ALB idle timeout below each', () => {
    const table = readTable(docs, 'The keep-alive idle timeout');
    const builds = [...table.rows.values()];
    const expected = [
      [
        `official ${timing.uwsIdleCloseSeconds.official.version}`,
        `${timing.uwsIdleCloseSeconds.official.min}–${timing.uwsIdleCloseSeconds.official.max} s`,
        `${timing.albIdleTimeoutSeconds} s`,
      ],
      [
        `legacy ${timing.uwsIdleCloseSeconds.legacy.version}`,
        `${timing.uwsIdleCloseSeconds.legacy.min}–${timing.uwsIdleCloseSeconds.legacy.max} s`,
        `${timing.legacyAlbIdleTimeoutSeconds} s`,
      ],
    ];
    assert.deepEqual(
      builds.map((row) => [row['uWS build'], row['idle close'], row['ALB idle timeout']]),
      expected,
    );
  });
});

describe('docs/operations.md, "Behind an AWS load balancer"', () => {
  const operations = read('docs/operations.md');
  const start = operations.indexOf('\n## Behind an AWS load balancer\n');
  const section = operations.slice(start, operations.indexOf('\n## ', start + 1)).replace(/\s+/g, ' ');
  const numbers = (text: string) => text.match(/\d+/g) ?? [];

  /** What the section says of each setting, as deploy/settings.json and the Kubernetes manifests give it. */
  function statements(): Record<string, string> {
    const { official, legacy } = timing.uwsIdleCloseSeconds;
    const grace = new Set([timing.ecsStopTimeoutSeconds, kubernetesObject('Deployment').spec.template.spec.terminationGracePeriodSeconds]);
    assert.equal(grace.size, 1, 'ECS and Kubernetes give the same grace period, which docs/operations.md states once');
    return {
      'ALB idle timeout': `the ALB idle timeout, ${timing.albIdleTimeoutSeconds} s,`,
      'official build’s idle close': `${official.min}–${official.max} s on the official build`,
      'legacy build’s idle close and timeout': `(${legacy.min}–${legacy.max} s on the legacy one, which needs ${timing.legacyAlbIdleTimeoutSeconds} s)`,
      'health check': `\`${timing.healthCheck.path}\` on the admin port, ${gateway.adminPort}, as the health check`,
      'deregistration delay': `the deregistration delay, ${timing.deregistrationDelaySeconds} s,`,
      'drain delay': `the drain delay, ${flag(gateway.args, '--drain-delay-ms')} ms`,
      'grace period': `grace period, ${[...grace][0]} s,`,
      'preStop sleep': `the preStop sleep (${timing.preStopSleepSeconds} s, Kubernetes)`,
      'shutdown timeout': `the shutdown timeout, ${flag(gateway.args, '--shutdown-timeout-ms')} ms`,
      'trust proxy hops': `\`--trust-proxy-hops ${flag(gateway.args, '--trust-proxy-hops')}\``,
      'task role': `exactly ${JSON.parse(read('deploy/kubernetes/iam-policy.json'))
        .Statement[0].Action.map((a: string) => `\`${a}\``)
        .join(', ')
        .replace(/, ([^,]*)$/, ' and $1')} on the stream`,
    };
  }

  it('states the values of deploy/settings.json', () => {
    assert.ok(start >= 0, 'docs/operations.md has the section');
    for (const [what, statement] of Object.entries(statements()))
      assert.ok(section.includes(statement), `${what}: docs/operations.md should say ${JSON.stringify(statement)}`);
  });

  it('holds no other number (besides Node 24, Debian 13 and the 503)', () => {
    const known = new Set(['24', '13', '503', ...Object.values(statements()).flatMap(numbers)]);
    const unknown = numbers(section.replace(/\[[^\]]*\]\([^)]*\)/g, '')).filter((n) => !known.has(n));
    assert.deepEqual(unknown, [], 'numbers in the section that deploy/settings.json does not give');
  });
});

describe('the timing chain', () => {
  it('fits together: idle timeouts, drain, deregistration, grace periods', () => {
    const t = timing;
    assert.ok(t.albIdleTimeoutSeconds <= t.uwsIdleCloseSeconds.official.min - t.idleMarginSeconds);
    assert.ok(t.legacyAlbIdleTimeoutSeconds <= t.uwsIdleCloseSeconds.legacy.min - t.idleMarginSeconds);
    assert.ok(t.healthCheck.timeoutSeconds < t.healthCheck.intervalSeconds, 'an ALB needs the timeout below the interval');
    assert.ok(t.drainDelayMs >= t.healthCheck.intervalSeconds * (t.healthCheck.unhealthyThreshold + 1) * 1000);
    assert.ok(t.deregistrationDelaySeconds * 1000 >= t.drainDelayMs);
    assert.ok(t.ecsStopTimeoutSeconds * 1000 >= t.drainDelayMs + t.shutdownTimeoutMs);
    assert.ok(t.ecsStopTimeoutSeconds <= 120, 'Fargate allows at most 120 s');
    assert.ok(t.terminationGracePeriodSeconds * 1000 >= t.preStopSleepSeconds * 1000 + t.drainDelayMs + t.shutdownTimeoutMs);
    assert.equal(flag(gateway.args, '--drain-delay-ms'), String(t.drainDelayMs));
    assert.equal(flag(gateway.args, '--shutdown-timeout-ms'), String(t.shutdownTimeoutMs));
  });

  it('is what the CDK app reads: deploy/settings.json, not copies of its values', () => {
    const stack = read('deploy/aws/lib/gateway-stack.ts');
    for (const used of [
      'timing.albIdleTimeoutSeconds',
      'timing.deregistrationDelaySeconds',
      'timing.ecsStopTimeoutSeconds',
      'timing.healthCheck.path',
      'timing.healthCheck.intervalSeconds',
      'timing.healthCheck.unhealthyThreshold',
      'command: gateway.args',
    ]) {
      assert.ok(stack.includes(used), `gateway-stack.ts uses ${used}`);
    }
  });
});

describe('the Dockerfile', () => {
  const stages = dockerfileStages();
  const image = imageStage();

  it('builds on node:24-trixie and runs on node:24-trixie-slim, with deploy/image/install.sh in both', () => {
    const froms = stages.slice(1).map((stage) => instruction(stage, 'FROM'));
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the Dockerfile's own ${NODE_MAJOR} build argument, as written
    assert.deepEqual(froms, ['node:${NODE_MAJOR}-trixie AS build', 'node:${NODE_MAJOR}-trixie-slim']);
    assert.equal(instruction(stages[0], 'ARG'), 'NODE_MAJOR=24');
    assert.match(instruction(stages[1], 'RUN')!, /^bash deploy\/image\/install\.sh app \/src \/opt\/kinesis-gateway$/);
    assert.match(instruction(image, 'RUN')!, /install\.sh system/);
    assert.equal(instruction(image, 'WORKDIR'), '/opt/kinesis-gateway');
  });

  it('runs as uid 1000 under tini, stops on SIGTERM, and asks /healthz on the admin port', () => {
    assert.equal(instruction(image, 'USER'), `${gateway.uid}:${gateway.uid}`);
    assert.equal(instruction(image, 'STOPSIGNAL'), 'SIGTERM');
    assert.deepEqual(JSON.parse(instruction(image, 'ENTRYPOINT')!), ['/usr/bin/tini', '--', 'node', 'dist/src/cli.js']);
    assert.match(instruction(image, 'HEALTHCHECK')!, /CMD \["node", "\/opt\/kinesis-gateway\/healthcheck\.js"\]$/);
    assert.match(read('deploy/image/healthcheck.js'), /GATEWAY_ADMIN_PORT \|\| '9464'[\s\S]*\/healthz/);
  });

  it('declares the spool and dead-letter volumes and exposes both ports', () => {
    assert.deepEqual(JSON.parse(instruction(image, 'VOLUME')!), [gateway.spoolDir, gateway.deadLetterDir]);
    assert.equal(instruction(image, 'EXPOSE'), `${gateway.publicPort} ${gateway.adminPort}`);
  });

  it('runs serve with the flags of deploy/settings.json', () => {
    assert.deepEqual(imageCmd(), gateway.args);
    assert.ok(flag(imageCmd(), '--dead-letter-file')!.startsWith(`${gateway.deadLetterDir}/`));
  });

  it('leaves what docs/deploying.md states as its size, which deploy/check-image.sh enforces', () => {
    const { installMiB, installToleranceMiB } = settings.image;
    assert.ok(installToleranceMiB > 0 && installToleranceMiB <= installMiB / 5, 'a tolerance that still catches a platform’s binaries left in');
    const size = docs
      .split('\n- ')
      .find((item) => item.startsWith('**Size**'))
      ?.replace(/\s+/g, ' ');
    assert.ok(size, 'docs/deploying.md has a **Size** item');
    assert.ok(size.includes(`the install leaves about ${installMiB} MiB`), size);
    assert.ok(size.includes(`fails beyond ± ${installToleranceMiB} MiB`), size);
    const check = read('deploy/check-image.sh');
    assert.match(check, /image\.installMiB, image\.installToleranceMiB/);
    assert.match(check, /\|\| *\n *fail "the install leaves \$measured_mib MiB/);
  });

  it('leaves the tests, the benchmarks and other artefacts out of the build context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    for (const entry of ['**/node_modules', '**/dist', '.git', 'test', 'bench', 'deploy/aws']) assert.ok(ignored.includes(entry), entry);
    assert.ok(!ignored.some((entry) => ['src', 'deploy/image', 'deploy', 'package.json', 'package-lock.json', 'tsconfig.json'].includes(entry)));
  });
});
