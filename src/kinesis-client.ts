// One way to build a Kinesis client, for the shipper, tap and the local emulator alike.
//
// The SDK's default handler for Kinesis opens an HTTP/2 session per request (aws/aws-sdk-js-v3#8279),
// which costs a TLS handshake each time, and its request timeout defaults to none. So: HTTP/1.1
// with a keep-alive agent, explicit timeouts, TLS verification left on, and `maxAttempts: 1` since
// the shipper owns its retries.

import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import http from 'node:http';
import https from 'node:https';

export interface KinesisTarget {
  readonly endpoint?: string;
  readonly region?: string;
  readonly connectTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  readonly maxAttempts?: number;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export function isLoopbackEndpoint(endpoint: string | undefined): boolean {
  if (!endpoint) return false;
  const host = new URL(endpoint).hostname;
  return LOOPBACK_HOSTS.has(host) || host.startsWith('127.');
}

function hasConfiguredCredentials(env: NodeJS.ProcessEnv): boolean {
  return Boolean(
    env.AWS_ACCESS_KEY_ID ||
      env.AWS_PROFILE ||
      env.AWS_WEB_IDENTITY_TOKEN_FILE ||
      env.AWS_CONTAINER_CREDENTIALS_FULL_URI ||
      env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI,
  );
}

export function createKinesisClient(target: KinesisTarget, env: NodeJS.ProcessEnv = process.env): KinesisClient {
  const agentOptions = { keepAlive: true, maxSockets: 64 };
  // Local emulators accept any credentials; do not make users invent some for a loopback endpoint.
  const placeholderCredentials = isLoopbackEndpoint(target.endpoint) && !hasConfiguredCredentials(env);
  return new KinesisClient({
    endpoint: target.endpoint,
    region: target.region ?? 'us-east-1',
    maxAttempts: target.maxAttempts ?? 1,
    credentials: placeholderCredentials ? { accessKeyId: 'local', secretAccessKey: 'local' } : undefined,
    requestHandler: new NodeHttpHandler({
      httpAgent: new http.Agent(agentOptions),
      httpsAgent: new https.Agent(agentOptions),
      connectionTimeout: target.connectTimeoutMs ?? 3000,
      requestTimeout: target.requestTimeoutMs ?? 10_000,
      throwOnRequestTimeout: true,
    }),
  });
}
