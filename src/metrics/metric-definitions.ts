// The names, meanings and label values of every metric the gateway exports.
// Label values are fixed sets so that every series has a slot in shared memory from the start.

import { ERROR_CODES } from '../errors';

/** The Segment HTTP spec's routes (src/http/segment-routes.ts), long and short forms. */
export const SEGMENT_ROUTES = [
  '/v1/track',
  '/v1/page',
  '/v1/identify',
  '/v1/screen',
  '/v1/group',
  '/v1/alias',
  '/v1/batch',
  '/v1/t',
  '/v1/p',
  '/v1/i',
  '/v1/s',
  '/v1/g',
  '/v1/a',
  '/v1/b',
  '/v1/projects/*',
] as const;
export const ROUTES = ['/v1/events', '/v1/pixel.gif', ...SEGMENT_ROUTES, '/healthz', '/readyz', 'other'] as const;
export const STATUSES = ['200', '202', '204', '400', '401', '403', '404', '405', '408', '411', '413', '414', '415', '429', '431', '500', '503'] as const;
export const REJECT_REASONS = Object.keys(ERROR_CODES) as (keyof typeof ERROR_CODES)[];
/** Per-entry error codes of PutRecords answers; anything else is counted as `other`. */
export const RECORD_ERROR_CODES = ['ProvisionedThroughputExceededException', 'InternalFailure', 'other'] as const;
export const REQUEST_OUTCOMES = ['ok', 'error'] as const;

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const REQUEST_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5];
const DELIVERY_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const EVENTS_PER_RECORD_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 200, 500, 1000];
/** Shard ids are only known at run time; their metrics have a slot per shard number modulo this. */
export const SHARD_SLOTS = 256;
export const SHARD_LABELS = Array.from({ length: SHARD_SLOTS }, (_, i) => `shardId-${String(i).padStart(12, '0')}`);
export const DEAD_LETTER_REASONS = ['expired', 'refused'] as const;
export const SHARD_MAP_OUTCOMES = ['ok', 'error'] as const;
export const ACK_MODES = ['memory', 'disk', 'stream'] as const;
export const REJECTS_FILE_OUTCOMES = ['kept', 'rate_limited', 'failed'] as const;
const COMMIT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const ACK_WAIT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface MetricDefinition {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly labels: readonly string[];
  readonly labelValues: readonly (readonly string[])[];
  readonly buckets?: readonly number[];
  /** Print only the series that are not zero (for label sets with many unused values). */
  readonly sparse?: boolean;
}

function counter(name: string, help: string, labels: Record<string, readonly string[]> = {}, sparse = false): MetricDefinition {
  return { name, help, type: 'counter', labels: Object.keys(labels), labelValues: Object.values(labels), sparse };
}

function histogram(name: string, help: string, buckets: readonly number[], labels: Record<string, readonly string[]> = {}): MetricDefinition {
  return { name, help, type: 'histogram', labels: Object.keys(labels), labelValues: Object.values(labels), buckets };
}

export const METRICS = {
  requests: counter('gateway_requests_total', 'HTTP requests answered, by route and status', { route: ROUTES, status: STATUSES }),
  eventsAccepted: counter('gateway_events_accepted_total', 'Events acknowledged to clients and written to the buffer'),
  requestDuration: histogram(
    'gateway_request_duration_seconds',
    'Time from the headers of an event POST (/v1/events and the Segment routes) to its answer, body reading included',
    REQUEST_BUCKETS,
  ),
  corsRefused: counter('gateway_cors_refused_total', 'Requests and preflights from an Origin not in --cors-origins'),
  workerRestarts: counter('gateway_worker_restarts_total', 'Shipper worker threads started again after one ended'),
  eventsRejected: counter('gateway_events_rejected_total', 'Requests whose events were refused, by reason', { reason: REJECT_REASONS }),
  batchesShipped: counter('gateway_batches_shipped_total', 'Batches of records confirmed by Kinesis'),
  recordsShipped: counter('gateway_records_shipped_total', 'Kinesis records confirmed by Kinesis (an aggregated record counts once)'),
  aggregatedRecordsShipped: counter('gateway_aggregated_records_shipped_total', 'KPL aggregated records confirmed by Kinesis'),
  eventsShipped: counter('gateway_events_shipped_total', 'User events confirmed by Kinesis, raw or inside aggregates'),
  eventsPerRecord: histogram('gateway_events_per_record', 'User events per confirmed Kinesis record', EVENTS_PER_RECORD_BUCKETS),
  deliveryLatency: histogram(
    'gateway_delivery_latency_seconds',
    'Time from receiving an event to its confirmation by Kinesis (per record, from its oldest event; weighted by events)',
    DELIVERY_BUCKETS,
  ),
  throttles: counter(
    'gateway_throttles_total',
    'Entries refused with ProvisionedThroughputExceededException, by predicted shard',
    { shard: SHARD_LABELS },
    true,
  ),
  deadLettered: counter(
    'gateway_dead_letter_events_total',
    'Events given up and written to the dead-letter file, by reason (expired: older than the record TTL; refused: a final error)',
    { reason: DEAD_LETTER_REASONS },
  ),
  shardMapRefreshes: counter('gateway_shard_map_refreshes_total', 'ListShards reads of the shard map, by outcome (error: records go unaggregated meanwhile)', {
    outcome: SHARD_MAP_OUTCOMES,
  }),
  shardMismatches: counter('gateway_shard_mismatches_total', 'Records that landed on another shard than predicted (the stream was resharded)'),
  partitionKeyFallbacks: counter('gateway_partition_key_fallbacks_total', 'Events without a usable --partition-key field, given a random key'),
  recordsFailed: counter('gateway_records_failed_total', 'PutRecords entries Kinesis refused (each is retried), by error code', { code: RECORD_ERROR_CODES }),
  putRecordsRequests: counter('gateway_put_records_requests_total', 'PutRecords calls, by outcome (error: the whole call failed)', {
    outcome: REQUEST_OUTCOMES,
  }),
  retries: counter('gateway_put_records_retries_total', 'PutRecords calls that resend records of an earlier call'),
  workerTaskFailures: counter('gateway_worker_task_failures_total', 'Batches handed to another worker because their worker failed'),
  eventsAcknowledged: counter(
    'gateway_events_acknowledged_total',
    'Events answered with 2xx, by what the answer promised (memory: in the buffer; disk: synced to the spool; stream: confirmed by Kinesis)',
    { mode: ACK_MODES },
  ),
  ackWait: histogram(
    'gateway_ack_wait_seconds',
    'How long ?ack=stream requests waited for Kinesis to confirm their events (timed-out waits included)',
    ACK_WAIT_BUCKETS,
  ),
  spoolSpilled: counter('gateway_spool_spilled_events_total', 'Events written to the spool to be loaded into the buffer later, because it was full or behind'),
  spoolReplayed: counter('gateway_spool_replayed_events_total', 'Events loaded from spool segments an earlier run left behind'),
  spoolCorrupt: counter('gateway_spool_corrupt_entries_total', 'Damaged or torn spool entries skipped while loading (one per damaged stretch)'),
  spoolCommits: counter('gateway_spool_commits_total', 'Group commits (write + fdatasync) of the spool, by outcome (error: their requests got 503)', {
    outcome: REQUEST_OUTCOMES,
  }),
  spoolCommitDuration: histogram('gateway_spool_commit_duration_seconds', 'Duration of one spool group commit (write + fdatasync)', COMMIT_BUCKETS),
  rejectsFile: counter(
    'gateway_rejects_file_total',
    'Refused requests offered to --rejects-file, by outcome (rate_limited: over --rejects-per-second, only counted)',
    { outcome: REJECTS_FILE_OUTCOMES },
  ),
  putRecordsDuration: histogram('gateway_put_records_duration_seconds', 'Duration of one PutRecords call', LATENCY_BUCKETS),
} as const;
