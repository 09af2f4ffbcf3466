// Structured JSON logs on stdout, one line per event worth an operator's attention.

import pino, { type Logger } from 'pino';

export type { Logger };

/** Options whose values must never reach a log line. */
const SECRET_PATHS = ['config.writeKeys', 'config.awsSecretAccessKey', 'config.awsSessionToken'];

export function createLogger(level: string): Logger {
  return pino(
    { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime, redact: { paths: SECRET_PATHS, censor: '[redacted]' } },
    pino.destination({ fd: 1, sync: true }),
  );
}
