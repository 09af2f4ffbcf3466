// kinesis-gateway on ECS Fargate behind an Application Load Balancer, with its Kinesis stream.
//
// The values that decide whether the gateway drops connections or events behind a load balancer
// come from deploy/settings.json (docs/deploying.md explains each):
// - the ALB's idle timeout stays below the time the image's uWS build closes an idle keep-alive
//   connection (an ALB that reuses a connection the target has just closed answers 502);
// - health checks ask /readyz on the admin port, which answers 503 from SIGTERM on;
// - the target group's deregistration delay covers the gateway's drain delay, and the container's
//   stop timeout covers the drain delay plus the shutdown timeout;
// - the task role may call exactly the three Kinesis actions the gateway uses, on this one stream.

import { CfnOutput, CfnParameter, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { settings } from './settings';

/** Exactly what the gateway calls: PutRecords to write, ListShards for the shard map, DescribeStreamSummary at start. */
export const GATEWAY_KINESIS_ACTIONS = ['kinesis:PutRecords', 'kinesis:ListShards', 'kinesis:DescribeStreamSummary'];

export interface StreamOptions {
  readonly mode: 'on-demand' | 'provisioned';
  /** Shards of a provisioned stream: the default of its ShardCount parameter (ignored when on-demand). */
  readonly shardCount: number;
  /** managed: the AWS managed key alias/aws/kinesis (its key policy lets the account's writers use it); kms: a key of the stack's own. */
  readonly encryption: 'managed' | 'kms';
}

export interface GatewayStackProps extends StackProps {
  readonly stream: StreamOptions;
  /** Tasks running at least and at most (CPU-based autoscaling between them). */
  readonly minTasks?: number;
  readonly maxTasks?: number;
}

export class GatewayStack extends Stack {
  constructor(scope: Construct, id: string, props: GatewayStackProps) {
    super(scope, id, props);
    const { gateway, timing } = settings;

    const repository = new CfnParameter(this, 'ImageRepository', {
      type: 'String',
      description: 'Name of the ECR repository holding the image built from the Dockerfile (the execution role may pull from it only)',
    });
    const tag = new CfnParameter(this, 'ImageTag', { type: 'String', description: 'Tag of the image in ImageRepository' });
    const certificate = new CfnParameter(this, 'CertificateArn', {
      type: 'String',
      description: 'ARN of the ACM certificate of the HTTPS listener',
      allowedPattern: '^arn:aws[a-z-]*:acm:.+',
    });

    const stream = this.stream(props.stream);

    const vpc = new ec2.Vpc(this, 'Vpc', { maxAzs: 2, natGateways: 1 });
    const cluster = new ecs.Cluster(this, 'Cluster', { vpc });

    // The task role: the gateway's own permissions and nothing else (the execution role, which pulls
    // the image and writes logs, is separate).
    const taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'kinesis-gateway: write events to its one stream',
    });
    taskRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: GATEWAY_KINESIS_ACTIONS, resources: [stream.streamArn] }));
    if (stream.encryptionKey) {
      taskRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['kms:GenerateDataKey'], resources: [stream.encryptionKey.keyArn] }));
    }

    const task = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: 2048,
      memoryLimitMiB: 4096,
      taskRole,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
      // Bind mounts of the task's ephemeral storage: they take the image's VOLUME directories, owned by uid 1000.
      volumes: [{ name: 'spool' }, { name: 'dead-letter' }],
    });
    const container = task.addContainer('gateway', {
      image: ecs.ContainerImage.fromEcrRepository(ecr.Repository.fromRepositoryName(this, 'Repository', repository.valueAsString), tag.valueAsString),
      // The image's CMD, stated here so that the template shows what runs.
      command: gateway.args,
      environment: {
        GATEWAY_REGION: this.region,
        GATEWAY_STREAM: stream.streamName,
      },
      user: `${gateway.uid}:${gateway.uid}`,
      readonlyRootFilesystem: true,
      stopTimeout: Duration.seconds(timing.ecsStopTimeoutSeconds),
      portMappings: [
        { name: 'events', containerPort: gateway.publicPort, protocol: ecs.Protocol.TCP },
        { name: 'admin', containerPort: gateway.adminPort, protocol: ecs.Protocol.TCP },
      ],
      // ECS ignores the image's HEALTHCHECK: the same check, liveness on /healthz.
      healthCheck: {
        command: ['CMD', 'node', '/opt/kinesis-gateway/healthcheck.js'],
        interval: Duration.seconds(10),
        timeout: Duration.seconds(3),
        retries: 3,
        startPeriod: Duration.seconds(30),
      },
      // Prometheus: the CloudWatch agent's ECS service discovery finds the admin port by these labels.
      dockerLabels: {
        ECS_PROMETHEUS_EXPORTER_PORT: String(gateway.adminPort),
        ECS_PROMETHEUS_METRICS_PATH: '/metrics',
        ECS_PROMETHEUS_JOB_NAME: 'kinesis-gateway',
      },
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'gateway', logRetention: logs.RetentionDays.ONE_MONTH }),
    });
    container.addMountPoints(
      { sourceVolume: 'spool', containerPath: gateway.spoolDir, readOnly: false },
      { sourceVolume: 'dead-letter', containerPath: gateway.deadLetterDir, readOnly: false },
    );

    const service = new ecs.FargateService(this, 'Service', {
      cluster,
      taskDefinition: task,
      desiredCount: props.minTasks ?? 2,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
      healthCheckGracePeriod: Duration.seconds(30),
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    });

    const alb = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc,
      internetFacing: true,
      // Below the image's uWS idle close, so that the ALB never reuses a connection the gateway closed.
      idleTimeout: Duration.seconds(timing.albIdleTimeoutSeconds),
      // An ALB must not pass on malformed headers to a gateway that trusts X-Forwarded-For's last hop.
      dropInvalidHeaderFields: true,
    });
    alb.addRedirect({ sourcePort: 80, targetPort: 443 });
    const listener = alb.addListener('Https', {
      port: 443,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates: [elbv2.ListenerCertificate.fromArn(certificate.valueAsString)],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
    });
    listener.addTargets('Gateway', {
      port: gateway.publicPort,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [service.loadBalancerTarget({ containerName: container.containerName, containerPort: gateway.publicPort })],
      deregistrationDelay: Duration.seconds(timing.deregistrationDelaySeconds),
      healthCheck: {
        path: timing.healthCheck.path,
        port: String(gateway.adminPort),
        protocol: elbv2.Protocol.HTTP,
        healthyHttpCodes: '200',
        interval: Duration.seconds(timing.healthCheck.intervalSeconds),
        timeout: Duration.seconds(timing.healthCheck.timeoutSeconds),
        healthyThresholdCount: timing.healthCheck.healthyThreshold,
        unhealthyThresholdCount: timing.healthCheck.unhealthyThreshold,
      },
    });
    // Health checks go to the admin port; the events port is opened to the ALB by addTargets.
    service.connections.allowFrom(alb, ec2.Port.tcp(gateway.adminPort), 'ALB health checks on /readyz');

    const scaling = service.autoScaleTaskCount({ minCapacity: props.minTasks ?? 2, maxCapacity: props.maxTasks ?? 10 });
    scaling.scaleOnCpuUtilization('Cpu', {
      targetUtilizationPercent: 60,
      scaleOutCooldown: Duration.seconds(60),
      scaleInCooldown: Duration.seconds(300),
    });

    new CfnOutput(this, 'LoadBalancerDns', { value: alb.loadBalancerDnsName, description: 'point the collector hostname (CNAME or alias) here' });
    new CfnOutput(this, 'StreamName', { value: stream.streamName });
    new CfnOutput(this, 'StreamArn', { value: stream.streamArn });
  }

  private stream(options: StreamOptions): kinesis.Stream {
    const encryption =
      options.encryption === 'kms'
        ? {
            encryption: kinesis.StreamEncryption.KMS,
            encryptionKey: new kms.Key(this, 'StreamKey', { enableKeyRotation: true, description: 'kinesis-gateway stream' }),
          }
        : { encryption: kinesis.StreamEncryption.MANAGED };
    // A provisioned stream's shards are a deploy-time parameter, so that resharding (docs/deploying.md,
    // "Sizing") is a stack update with a new value, not a new synth.
    const shardCount = () =>
      new CfnParameter(this, 'ShardCount', {
        type: 'Number',
        default: options.shardCount,
        minValue: 1,
        description: 'Shards of the provisioned Kinesis stream (each takes 1 MiB/s and 1,000 records/s; see docs/deploying.md, Sizing)',
      }).valueAsNumber;
    return new kinesis.Stream(this, 'Events', {
      ...encryption,
      ...(options.mode === 'provisioned'
        ? { streamMode: kinesis.StreamMode.PROVISIONED, shardCount: shardCount() }
        : { streamMode: kinesis.StreamMode.ON_DEMAND }),
      retentionPeriod: Duration.hours(24),
    });
  }
}
