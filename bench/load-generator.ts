// The load generator, in a process of its own so that its CPU is neither the harness's nor the
// server's: autocannon with the options given as JSON in argv[2]. It prints one line when it starts
// loading, {"started":true}, and one when done: the figures the harness uses and the CPU this
// process spent while loading.

import autocannon from 'autocannon';

export interface LoadOptions {
  readonly url: string;
  readonly method: 'POST' | 'GET';
  readonly body?: string;
  readonly headers: Record<string, string>;
  readonly connections: number;
  readonly pipelining: number;
  readonly durationS: number;
  /** Requests per second over all connections; the most they can do without it. */
  readonly overallRate?: number;
}

export interface LoadResult {
  readonly requestsPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly ok2xx: number;
  readonly non2xx: number;
  /** The non-2xx answers by status, e.g. {"503": 120}. */
  readonly non2xxByStatus: Record<string, number>;
  readonly errors: number;
  readonly durationS: number;
  /** CPU this process spent while autocannon ran, user + system. */
  readonly cpuS: number;
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2]) as LoadOptions;
  process.stdout.write('{"started":true}\n');
  const before = process.cpuUsage();
  const result = await autocannon({
    url: options.url,
    method: options.method,
    body: options.body,
    headers: options.headers,
    connections: options.connections,
    pipelining: options.pipelining,
    duration: options.durationS,
    overallRate: options.overallRate,
  });
  const cpu = process.cpuUsage(before);
  const out: LoadResult = {
    requestsPerS: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    ok2xx: result['2xx'],
    non2xx: result.non2xx,
    non2xxByStatus: Object.fromEntries(
      Object.entries(result.statusCodeStats ?? {})
        .filter(([status]) => !status.startsWith('2'))
        .map(([status, { count }]) => [status, count]),
    ),
    errors: result.errors + result.timeouts,
    durationS: result.duration,
    cpuS: (cpu.user + cpu.system) / 1e6,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
