// The isolation scenario's fault proxy, in a process of its own: it parses every PutRecords body,
// and in the load generator's process that work would stall autocannon and show up as client
// latency. SIGUSR2 adds 2 s to every Kinesis call from then on.

import { startFaultProxy } from '../test/support/fault-proxy';

const SLOW_KINESIS_MS = 2000;

startFaultProxy(process.argv[2], { failEntries: 0, entryErrorCodes: [], failRequests: 0 }).then((proxy) => {
  process.on('SIGUSR2', () => (proxy.faults.latencyMs = SLOW_KINESIS_MS));
  process.stdout.write(`${JSON.stringify({ port: Number(new URL(proxy.endpoint).port) })}\n`);
});
