// The names, meanings and label values of every metric the gateway exports.
// Label values are fixed sets so that every series has a slot in shared memory from the start.

import { ERROR_CODES } from '../errors';

export const ROUTES = ['/v1/events', '/healthz', '/readyz', 'other'] as const;
export const STATUSES = ['200', '202', '400', '404', '405', '413', '415', '500', '503'] as const;
export const REJECT_REASONS = Object.keys(ERROR_CODES) as (keyof typeof ERROR_CODES)[];
/** Per-entry error codes of PutRecords answers; anything else is counted as `other`. */
export const RECORD_ERROR_CODES = ['ProvisionedThroughputExceededException', 'InternalFailure', 'other'] as const;
export const REQUEST_OUTCOMES = ['ok', 'error'] as const;

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface MetricDefinition {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly labels: readonly string[];
  readonly labelValues: readonly (readonly string[])[];
  readonly buckets?: readonly number[];
}

function counter(name: string, help: string, labels: Record<string, readonly string[]> = {}): MetricDefinition {
  return { name, help, type: 'counter', labels: Object.keys(labels), labelValues: Object.values(labels) };
}

function histogram(name: string, help: string, buckets: readonly number[], labels: Record<string, readonly string[]> = {}): MetricDefinition {
  return { name, help, type: 'histogram', labels: Object.keys(labels), labelValues: Object.values(labels), buckets };
}

export const METRICS = {
  requests: counter('gateway_requests_total', 'HTTP requests answered, by route and status', { route: ROUTES, status: STATUSES }),
  eventsAccepted: counter('gateway_events_accepted_total', 'Events acknowledged to clients and written to the buffer'),
  eventsRejected: counter('gateway_events_rejected_total', 'Requests whose events were refused, by reason', { reason: REJECT_REASONS }),
  batchesShipped: counter('gateway_batches_shipped_total', 'Batches of records confirmed by Kinesis'),
  recordsShipped: counter('gateway_records_shipped_total', 'Records confirmed by Kinesis'),
  recordsFailed: counter('gateway_records_failed_total', 'PutRecords entries Kinesis refused (each is retried), by error code', { code: RECORD_ERROR_CODES }),
  putRecordsRequests: counter('gateway_put_records_requests_total', 'PutRecords calls, by outcome (error: the whole call failed)', { outcome: REQUEST_OUTCOMES }),
  retries: counter('gateway_put_records_retries_total', 'PutRecords calls that resend records of an earlier call'),
  workerTaskFailures: counter('gateway_worker_task_failures_total', 'Batches handed to another worker because their worker failed'),
  putRecordsDuration: histogram('gateway_put_records_duration_seconds', 'Duration of one PutRecords call', LATENCY_BUCKETS),
} as const;
