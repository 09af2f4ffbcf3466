#!/usr/bin/env node
// Entry point: kinesis-gateway serve | tap | local-kinesis.

// On Node < 22 the AWS SDK warns on stderr, once per thread, that it will drop this Node version;
// `serve` says so once in its log instead (gateway.ts). On a supported Node nothing is silenced.
if (Number(process.versions.node.split('.')[0]) < 22) process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

import { ConfigError, helpText, LOCAL_KINESIS_SCHEMA, parseOptions, SERVE_SCHEMA, TAP_SCHEMA } from './config';
import { serve, StartupError } from './gateway';
import { createKinesisClient } from './kinesis-client';
import { listenKinesalite } from './kinesis-local/kinesalite-server';
import { createLogger } from './log';
import { waitForActiveStream } from './stream-status';
import { tap } from './tap/tap';

const USAGE = `Usage: kinesis-gateway <command> [options]

Commands:
  serve           run the gateway (with no Kinesis endpoint or region: on an embedded local Kinesis)
  tap             print the events of a stream, one JSON envelope per line
  local-kinesis   run the local Kinesis emulator on its own and create a stream

Run kinesis-gateway <command> --help for the options of each.
`;

function fail(message: string, code = 2): never {
  process.stderr.write(`kinesis-gateway: ${message}\n`);
  process.exit(code);
}

async function runServe(args: string[]): Promise<void> {
  const config = parseOptions(SERVE_SCHEMA, args, process.env);
  const log = createLogger(config.logLevel);
  let gateway;
  try {
    gateway = await serve(config, log);
  } catch (err) {
    if (err instanceof StartupError) {
      log.fatal(err.message);
      fail(err.message, 1);
    }
    throw err;
  }
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    // SIGTERM comes from an orchestrator behind a load balancer: wait out the deregistration delay.
    // SIGINT is a person at a terminal: no one is routing traffic here.
    gateway.shutdown(signal === 'SIGTERM').then((clean) => process.exit(clean ? 0 : 1));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function runLocalKinesis(args: string[]): Promise<void> {
  const config = parseOptions(LOCAL_KINESIS_SCHEMA, args, process.env);
  const { port } = await listenKinesalite(config.port, '127.0.0.1');
  const endpoint = `http://127.0.0.1:${port}`;
  const client = createKinesisClient({ endpoint });
  const log = createLogger('info');
  await waitForActiveStream({ client, stream: config.stream, where: endpoint, log, createShards: config.shards });
  client.destroy();
  log.info({ endpoint, stream: config.stream, shards: config.shards }, `local Kinesis at ${endpoint} with stream ${config.stream}; use: kinesis-gateway serve --kinesis-endpoint ${endpoint}`);
  process.stdout.write(`${endpoint}\n`);
  const stop = () => process.exit(0); // the emulator keeps its streams in memory only: nothing to flush
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function runTap(args: string[]): Promise<void> {
  const config = parseOptions(TAP_SCHEMA, args, process.env);
  if (!config.endpoint && !config.region) fail('tap needs --endpoint or --region (or AWS_ENDPOINT_URL_KINESIS / AWS_REGION)');
  const abort = new AbortController();
  process.on('SIGINT', () => abort.abort());
  process.on('SIGTERM', () => abort.abort());
  await tap(config, process.stdout, abort.signal);
}

const COMMANDS: Record<string, { run: (args: string[]) => Promise<void>; schema: Parameters<typeof helpText>[1] }> = {
  serve: { run: runServe, schema: SERVE_SCHEMA },
  tap: { run: runTap, schema: TAP_SCHEMA },
  'local-kinesis': { run: runLocalKinesis, schema: LOCAL_KINESIS_SCHEMA },
};

async function main(argv: string[]): Promise<void> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const command = COMMANDS[name];
  if (!command) fail(`unknown command ${JSON.stringify(name)}\n\n${USAGE}`);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(helpText(name, command.schema));
    return;
  }
  try {
    await command.run(args);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
}

main(process.argv.slice(2)).catch((err: Error) => fail(err.stack ?? err.message, 1));
