// docs/deploying.md's ECS column against the synthesized template: what the operator reads is
// what the stack deploys.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { GatewayStack } from '../lib/gateway-stack';
import { SETTINGS_FILE } from '../lib/settings';

interface DocsTable {
  columns: string[];
  rows: Map<string, Record<string, string>>;
}
const DEPLOY = path.dirname(SETTINGS_FILE);
const { readTable, cellValue }: { readTable(markdown: string, heading: string): DocsTable; cellValue(cell: string): number | string | undefined } = require(
  path.join(DEPLOY, 'docs-table.js'),
);
const docs = readFileSync(path.join(DEPLOY, '..', 'docs', 'deploying.md'), 'utf8');
const ECS = 'ECS (deploy/aws)';

function one(template: Template, type: string) {
  const resources = Object.values(template.findResources(type));
  assert.equal(resources.length, 1, type);
  return resources[0].Properties;
}

describe('docs/deploying.md', () => {
  it('states in its ECS column what the synthesized template holds', () => {
    const template = Template.fromStack(new GatewayStack(new App(), 'KinesisGateway', { stream: { mode: 'on-demand', shardCount: 4, encryption: 'managed' } }));
    const alb = one(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer');
    const group = one(template, 'AWS::ElasticLoadBalancingV2::TargetGroup');
    const container = one(template, 'AWS::ECS::TaskDefinition').ContainerDefinitions[0];
    const attribute = (attributes: { Key: string; Value: string }[], key: string) => Number(attributes.find((a) => a.Key === key)?.Value);
    const flag = (name: string) => {
      const at = container.Command.indexOf(name);
      return at < 0 ? undefined : Number(container.Command[at + 1]);
    };
    const template_: Record<string, number | string | undefined> = {
      'ALB idle timeout': attribute(alb.LoadBalancerAttributes, 'idle_timeout.timeout_seconds'),
      'health check path': `${group.HealthCheckPath} on ${group.HealthCheckPort}`,
      'health check interval': group.HealthCheckIntervalSeconds,
      'unhealthy threshold': group.UnhealthyThresholdCount,
      'drain delay': flag('--drain-delay-ms'),
      'deregistration delay': attribute(group.TargetGroupAttributes, 'deregistration_delay.timeout_seconds'),
      'preStop sleep': undefined,
      'shutdown timeout': flag('--shutdown-timeout-ms'),
      'time before SIGKILL': container.StopTimeout,
      'trust proxy hops': flag('--trust-proxy-hops'),
    };
    const table = readTable(docs, 'The timing chain');
    assert.ok(table.columns.includes(ECS));
    assert.deepEqual([...table.rows.keys()], Object.keys(template_));
    for (const [row, value] of Object.entries(template_)) assert.equal(cellValue(table.rows.get(row)![ECS]), value, row);
  });
});
