// The synthesized template (no AWS account, no CDK CLI) against deploy/settings.json: the values
// that decide whether the gateway drops connections or events behind the ALB, and the task role's
// exact permissions.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { GATEWAY_KINESIS_ACTIONS, GatewayStack, type StreamOptions } from '../lib/gateway-stack';
import { settings } from '../lib/settings';

const { gateway, timing } = settings;
const templates = new Map<string, Template>();

function synth(stream: Partial<StreamOptions> = {}): Template {
  const options: StreamOptions = { mode: 'on-demand', shardCount: 4, encryption: 'managed', ...stream };
  const key = JSON.stringify(options);
  if (!templates.has(key)) templates.set(key, Template.fromStack(new GatewayStack(new App(), 'KinesisGateway', { stream: options })));
  return templates.get(key)!;
}

function only<T>(resources: Record<string, T>): [string, T] {
  const entries = Object.entries(resources);
  assert.equal(entries.length, 1, `expected one resource, found ${entries.map(([id]) => id).join(', ')}`);
  return entries[0];
}

function attribute(attributes: { Key: string; Value: string }[], key: string): string | undefined {
  return attributes.find((a) => a.Key === key)?.Value;
}

describe('the load balancer', () => {
  it('gives up idle connections before the image’s uWS build closes them', () => {
    const [, alb] = only(synth().findResources('AWS::ElasticLoadBalancingV2::LoadBalancer'));
    const idle = Number(attribute(alb.Properties.LoadBalancerAttributes, 'idle_timeout.timeout_seconds'));
    assert.equal(idle, timing.albIdleTimeoutSeconds);
    assert.ok(
      idle <= timing.uwsIdleCloseSeconds.official.min - timing.idleMarginSeconds,
      `${idle} s is not ${timing.idleMarginSeconds} s below the official build's ${timing.uwsIdleCloseSeconds.official.min} s`,
    );
  });

  it('checks /readyz on the admin port, often enough to notice a draining gateway within the drain delay', () => {
    const [, group] = only(synth().findResources('AWS::ElasticLoadBalancingV2::TargetGroup'));
    const p = group.Properties;
    assert.equal(p.HealthCheckPath, '/readyz');
    assert.equal(p.HealthCheckPath, timing.healthCheck.path);
    assert.equal(p.HealthCheckPort, String(gateway.adminPort));
    assert.equal(p.HealthCheckIntervalSeconds, timing.healthCheck.intervalSeconds);
    assert.equal(p.HealthCheckTimeoutSeconds, timing.healthCheck.timeoutSeconds);
    assert.equal(p.HealthyThresholdCount, timing.healthCheck.healthyThreshold);
    assert.equal(p.UnhealthyThresholdCount, timing.healthCheck.unhealthyThreshold);
    assert.deepEqual(p.Matcher, { HttpCode: '200' });
    assert.equal(p.Port, gateway.publicPort);
    assert.equal(p.TargetType, 'ip');
    // A first failing check may come an interval after SIGTERM; the ALB then needs the unhealthy threshold's worth of them.
    assert.ok(timing.drainDelayMs >= p.HealthCheckIntervalSeconds * (p.UnhealthyThresholdCount + 1) * 1000);
  });

  it('keeps a deregistered target for at least the gateway’s drain delay', () => {
    const [, group] = only(synth().findResources('AWS::ElasticLoadBalancingV2::TargetGroup'));
    const delay = Number(attribute(group.Properties.TargetGroupAttributes, 'deregistration_delay.timeout_seconds'));
    assert.equal(delay, timing.deregistrationDelaySeconds);
    assert.ok(delay * 1000 >= timing.drainDelayMs);
  });

  it('listens with HTTPS on 443 with the certificate parameter, and redirects 80 there', () => {
    const template = synth();
    template.hasParameter('CertificateArn', { Type: 'String' });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: { Ref: 'CertificateArn' } }],
      DefaultActions: [Match.objectLike({ Type: 'forward' })],
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      DefaultActions: [Match.objectLike({ Type: 'redirect', RedirectConfig: Match.objectLike({ Port: '443', Protocol: 'HTTPS' }) })],
    });
  });

  it('may reach the tasks on the events port and the admin port only', () => {
    const ingress = Object.values(synth().findResources('AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties);
    const ports = ingress.filter((p) => p.SourceSecurityGroupId).map((p) => [p.FromPort, p.ToPort]);
    assert.deepEqual(
      ports.sort(),
      [
        [gateway.publicPort, gateway.publicPort],
        [gateway.adminPort, gateway.adminPort],
      ].sort(),
    );
  });
});

describe('the task', () => {
  function container() {
    const [, task] = only(synth().findResources('AWS::ECS::TaskDefinition'));
    assert.equal(task.Properties.ContainerDefinitions.length, 1);
    return { task: task.Properties, container: task.Properties.ContainerDefinitions[0] };
  }

  it('runs the image’s command: the flags for a gateway behind an ELB', () => {
    const { container: c } = container();
    assert.deepEqual(c.Command, gateway.args);
    const flag = (name: string) => c.Command[c.Command.indexOf(name) + 1];
    assert.equal(flag('--trust-proxy-hops'), '1');
    assert.equal(Number(flag('--drain-delay-ms')), timing.drainDelayMs);
    assert.equal(Number(flag('--shutdown-timeout-ms')), timing.shutdownTimeoutMs);
    assert.equal(flag('--spool-dir'), gateway.spoolDir);
    const [streamId] = only(synth().findResources('AWS::Kinesis::Stream'));
    assert.deepEqual(c.Environment, [
      { Name: 'GATEWAY_REGION', Value: { Ref: 'AWS::Region' } },
      { Name: 'GATEWAY_STREAM', Value: { Ref: streamId } },
    ]);
  });

  it('gets SIGKILL only after the drain delay and the shutdown timeout have passed', () => {
    const { container: c } = container();
    assert.equal(c.StopTimeout, timing.ecsStopTimeoutSeconds);
    assert.ok(c.StopTimeout * 1000 >= timing.drainDelayMs + timing.shutdownTimeoutMs);
    assert.ok(c.StopTimeout <= 120, 'Fargate allows at most 120 s');
  });

  it('runs as uid 1000 on a read-only root filesystem, with the spool and dead letters on volumes', () => {
    const { task, container: c } = container();
    assert.equal(c.User, `${gateway.uid}:${gateway.uid}`);
    assert.equal(c.ReadonlyRootFilesystem, true);
    assert.deepEqual(task.Volumes, [{ Name: 'spool' }, { Name: 'dead-letter' }]);
    assert.deepEqual(c.MountPoints, [
      { ContainerPath: gateway.spoolDir, ReadOnly: false, SourceVolume: 'spool' },
      { ContainerPath: gateway.deadLetterDir, ReadOnly: false, SourceVolume: 'dead-letter' },
    ]);
    const deadLetterFile = c.Command[c.Command.indexOf('--dead-letter-file') + 1];
    assert.ok(deadLetterFile.startsWith(`${gateway.deadLetterDir}/`));
  });

  it('exposes both ports and labels the admin port for Prometheus discovery', () => {
    const { container: c } = container();
    assert.deepEqual(
      c.PortMappings.map((p: { ContainerPort: number }) => p.ContainerPort),
      [gateway.publicPort, gateway.adminPort],
    );
    assert.equal(c.DockerLabels.ECS_PROMETHEUS_EXPORTER_PORT, String(gateway.adminPort));
    assert.equal(c.DockerLabels.ECS_PROMETHEUS_METRICS_PATH, '/metrics');
  });

  it('scales on CPU', () => {
    synth().hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
        TargetValue: 60,
      }),
    });
  });
});

describe('the task role', () => {
  function taskRolePolicies(template: Template) {
    const [, task] = only(template.findResources('AWS::ECS::TaskDefinition'));
    const roleId = task.Properties.TaskRoleArn['Fn::GetAtt'][0];
    const [, role] = Object.entries(template.findResources('AWS::IAM::Role')).find(([id]) => id === roleId)!;
    assert.equal(role.Properties.ManagedPolicyArns, undefined, 'no managed policies');
    assert.equal(role.Properties.Policies, undefined, 'no inline policies on the role itself');
    return Object.values(template.findResources('AWS::IAM::Policy')).filter((p) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId));
  }

  it('may call exactly PutRecords, ListShards and DescribeStreamSummary, on the stream only', () => {
    const template = synth();
    const [streamId] = only(template.findResources('AWS::Kinesis::Stream'));
    const policies = taskRolePolicies(template);
    assert.equal(policies.length, 1);
    assert.deepEqual(policies[0].Properties.PolicyDocument.Statement, [
      { Action: ['kinesis:PutRecords', 'kinesis:ListShards', 'kinesis:DescribeStreamSummary'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [streamId, 'Arn'] } },
    ]);
    assert.deepEqual(GATEWAY_KINESIS_ACTIONS, ['kinesis:PutRecords', 'kinesis:ListShards', 'kinesis:DescribeStreamSummary']);
  });

  it('may also call kms:GenerateDataKey on the stream’s key when it has one of its own', () => {
    const template = synth({ encryption: 'kms' });
    const [streamId, stream] = only(template.findResources('AWS::Kinesis::Stream'));
    const [keyId] = only(template.findResources('AWS::KMS::Key'));
    assert.deepEqual(stream.Properties.StreamEncryption, { EncryptionType: 'KMS', KeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    const policies = taskRolePolicies(template);
    assert.equal(policies.length, 1);
    assert.deepEqual(policies[0].Properties.PolicyDocument.Statement, [
      { Action: ['kinesis:PutRecords', 'kinesis:ListShards', 'kinesis:DescribeStreamSummary'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [streamId, 'Arn'] } },
      { Action: 'kms:GenerateDataKey', Effect: 'Allow', Resource: { 'Fn::GetAtt': [keyId, 'Arn'] } },
    ]);
  });

  it('needs no KMS permission with the AWS managed key, whose key policy admits the account’s writers', () => {
    const template = synth();
    const [, stream] = only(template.findResources('AWS::Kinesis::Stream'));
    assert.deepEqual(stream.Properties.StreamEncryption, { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' });
    template.resourceCountIs('AWS::KMS::Key', 0);
  });
});

describe('the stream', () => {
  it('is on-demand by default, with no shard count to set', () => {
    const template = synth();
    const [, stream] = only(template.findResources('AWS::Kinesis::Stream'));
    assert.deepEqual(stream.Properties.StreamModeDetails, { StreamMode: 'ON_DEMAND' });
    assert.equal(stream.Properties.ShardCount, undefined);
    assert.deepEqual(Object.keys(template.findParameters('ShardCount')), []);
  });

  it('is provisioned with the ShardCount parameter, whose default is the shard count asked for', () => {
    const template = synth({ mode: 'provisioned', shardCount: 8 });
    const [, stream] = only(template.findResources('AWS::Kinesis::Stream'));
    assert.deepEqual(stream.Properties.StreamModeDetails, { StreamMode: 'PROVISIONED' });
    assert.deepEqual(stream.Properties.ShardCount, { Ref: 'ShardCount' });
    const [, parameter] = only(template.findParameters('ShardCount'));
    assert.equal(parameter.Type, 'Number');
    assert.equal(parameter.Default, 8);
    assert.equal(parameter.MinValue, 1);
  });
});
