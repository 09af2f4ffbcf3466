// `kinesis-gateway serve`, as the CLI runs it, with one difference: the shipper's threads run
// crashing-worker.js, so that tests can kill workers mid-task without a hook in production code.
// Arguments are the CLI's (`serve` and its options); CRASH_WORKER_EVERY says how often threads die.

// As the CLI does: on Node < 22 the SDK's warning would go to stderr once per thread.
if (Number(process.versions.node.split('.')[0]) < 22) process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

import path from 'node:path';
import { parseOptions, SERVE_SCHEMA } from '../../src/config';
import { serve } from '../../src/gateway';
import { createLogger } from '../../src/log';

async function main([command, ...args]: string[]): Promise<void> {
  if (command !== 'serve') throw new Error(`this entry runs serve only, not ${JSON.stringify(command)}`);
  const config = parseOptions(SERVE_SCHEMA, args, process.env);
  const gateway = await serve(config, createLogger(config.logLevel), { workerFile: path.join(__dirname, 'crashing-worker.js') });
  const stop = () => gateway.shutdown(false).then((clean) => process.exit(clean ? 0 : 1));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`serve-with-crashing-workers: ${err.stack}\n`);
  process.exit(1);
});
