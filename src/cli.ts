#!/usr/bin/env node
// Entry point: kinesis-gateway serve | tap | local-kinesis.

// On Node < 22 the AWS SDK warns on stderr, once per thread, that it will drop this Node version;
// `serve` says so once in its log instead (gateway.ts). On a supported Node nothing is silenced.
if (Number(process.versions.node.split('.')[0]) < 22) process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

import { helpText, LOCAL_KINESIS_SCHEMA, parseOptions, REPLAY_SCHEMA, SERVE_SCHEMA, TAP_SCHEMA } from './config';
import { ConfigError, GatewayError } from './errors';
import { type RunningGateway, serve } from './gateway';
import { createKinesisClient } from './kinesis-client';
import { listenKinesalite } from './kinesis-local/kinesalite-server';
import { createLogger } from './log';
import { type ReplaySummary, replay } from './replay/replay';
import { waitForActiveStream } from './stream-status';
import { tap } from './tap/tap';

const USAGE = `Usage: kinesis-gateway <command> [options]

Commands:
  serve           run the gateway (with no Kinesis endpoint or region: on an embedded local Kinesis)
  tap             print the events of a stream, one JSON envelope per line
  local-kinesis   run the local Kinesis emulator on its own and create a stream
  replay FILE     send a dead-letter file to a stream again (resumable; ids kept)

Run kinesis-gateway <command> --help for the options of each.
`;

function fail(message: string, code = 2): never {
  process.stderr.write(`kinesis-gateway: ${message}\n`);
  process.exit(code);
}

async function runServe(args: string[]): Promise<void> {
  const config = parseOptions(SERVE_SCHEMA, args, process.env);
  const log = createLogger(config.logLevel);
  let gateway: RunningGateway;
  try {
    gateway = await serve(config, log);
  } catch (err) {
    if (err instanceof GatewayError) {
      log.fatal({ code: err.code }, err.message);
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
  log.info(
    { endpoint, stream: config.stream, shards: config.shards },
    `local Kinesis at ${endpoint} with stream ${config.stream}; use: kinesis-gateway serve --kinesis-endpoint ${endpoint}`,
  );
  process.stdout.write(`${endpoint}\n`);
  const stop = () => process.exit(0); // the emulator keeps its streams in memory only: nothing to flush
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function runTap(args: string[]): Promise<void> {
  const config = parseOptions(TAP_SCHEMA, args, process.env);
  const abort = new AbortController();
  process.on('SIGINT', () => abort.abort());
  process.on('SIGTERM', () => abort.abort());
  await tap(config, process.stdout, abort.signal);
}

async function runReplay(args: string[]): Promise<void> {
  const [file, ...rest] = args;
  if (!file || file.startsWith('--')) fail('replay needs the dead-letter file first: kinesis-gateway replay FILE [options]');
  const config = parseOptions(REPLAY_SCHEMA, rest, process.env);
  const log = createLogger(config.logLevel);
  const abort = new AbortController();
  const stop = () => {
    if (abort.signal.aborted) process.exit(130); // a second signal: the progress file is consistent after every chunk
    log.warn('stopping: waiting for the chunks in flight (again to quit at once); run the same command to resume');
    abort.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  let summary: ReplaySummary;
  try {
    summary = await replay({
      file,
      kinesis: {
        endpoint: config.endpoint,
        region: config.region,
        connectTimeoutMs: config.kinesisConnectTimeoutMs,
        requestTimeoutMs: config.kinesisRequestTimeoutMs,
      },
      stream: config.stream,
      aggregationMaxBytes: config.aggregation === 'on' ? config.aggregationMaxBytes : 0,
      partitionKey: config.partitionKey,
      rateLimitPercent: config.rateLimitPercent,
      concurrency: config.concurrency,
      chunkEvents: config.chunkEvents,
      progressFile: config.progressFile ?? `${file}.progress`,
      refusedFile: config.refusedFile ?? `${file}.refused.ndjson`,
      log,
      progress: process.stderr,
      signal: abort.signal,
    });
  } catch (err) {
    fail(`replay of ${file} failed: ${(err as Error).message}`, 1);
  }
  const duplicates =
    summary.possibleDuplicates > 0
      ? `; up to ${summary.possibleDuplicates} of them may have been sent by an interrupted earlier run (duplicates, same ids)`
      : '';
  const refused = summary.refused > 0 ? `; ${summary.refused} refused for good, in ${config.refusedFile ?? `${file}.refused.ndjson`}` : '';
  log.info(
    summary,
    summary.complete
      ? `replay complete: ${summary.confirmed} events confirmed by Kinesis, ${summary.skippedAsConfirmed} skipped as confirmed by an earlier run${refused}${duplicates}`
      : `replay stopped: ${summary.confirmed} events confirmed; run the same command to resume${refused}${duplicates}`,
  );
  process.exit(summary.complete ? 0 : 1);
}

const COMMANDS: Record<string, { run: (args: string[]) => Promise<void>; schema: Parameters<typeof helpText>[1] }> = {
  serve: { run: runServe, schema: SERVE_SCHEMA },
  tap: { run: runTap, schema: TAP_SCHEMA },
  'local-kinesis': { run: runLocalKinesis, schema: LOCAL_KINESIS_SCHEMA },
  replay: { run: runReplay, schema: REPLAY_SCHEMA },
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
    if (err instanceof GatewayError) fail(err.message, 1);
    throw err;
  }
}

main(process.argv.slice(2)).catch((err: Error) => fail(err.stack ?? err.message, 1));
