// The CDK app: one stack, KinesisGateway. It needs no AWS account to synthesize (the stack is
// environment-agnostic): `npm run synth` writes the CloudFormation template to cdk.out/.
//
// Choices made at synth time, as context (cdk.json, or -c on the command line):
//   streamMode   on-demand (default) | provisioned
//   shardCount   default of a provisioned stream's ShardCount parameter (default 4)
//   encryption   managed (alias/aws/kinesis, default) | kms (a customer managed key of the stack's own)
// Choices made at deploy time, as CloudFormation parameters: ImageRepository, ImageTag, CertificateArn,
// and ShardCount when the stream is provisioned.

import { App } from 'aws-cdk-lib';
import { GatewayStack, type StreamOptions } from '../lib/gateway-stack';

const app = new App();

function choice<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
  const value = app.node.tryGetContext(key) ?? fallback;
  if (!allowed.includes(value)) throw new Error(`context ${key} must be one of ${allowed.join(', ')}; got ${JSON.stringify(value)}`);
  return value;
}

const shardCount = Number(app.node.tryGetContext('shardCount') ?? 4);
if (!Number.isInteger(shardCount) || shardCount < 1)
  throw new Error(`context shardCount must be a positive integer; got ${app.node.tryGetContext('shardCount')}`);
const stream: StreamOptions = {
  mode: choice('streamMode', ['on-demand', 'provisioned'], 'on-demand'),
  shardCount,
  encryption: choice('encryption', ['managed', 'kms'], 'managed'),
};

new GatewayStack(app, 'KinesisGateway', {
  stream,
  description: 'kinesis-gateway on ECS Fargate behind an ALB, with its Kinesis stream (docs/deploying.md)',
});
