// Making sure the stream is there and ACTIVE before the gateway calls itself ready.

import { CreateStreamCommand, DescribeStreamSummaryCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { setTimeout as sleep } from 'node:timers/promises';
import { StreamError } from './errors';
import type { Logger } from './log';

const POLL_MS = 100;
const UNREACHABLE_LOG_INTERVAL_MS = 5000;

export interface StreamCheck {
  readonly client: KinesisClient;
  readonly stream: string;
  readonly where: string;
  readonly log: Logger;
  /** Create the stream with this many shards when it does not exist (local Kinesis only). */
  readonly createShards?: number;
  readonly signal?: AbortSignal;
}

/**
 * Resolves once the stream is ACTIVE. Waits while Kinesis is unreachable (the gateway stays
 * unready meanwhile) or the stream is being created or updated; throws a StreamError
 * when the stream does not exist or is being deleted.
 */
export async function waitForActiveStream(check: StreamCheck): Promise<number> {
  const { client, stream, where, log } = check;
  let lastUnreachableLog = 0;
  let created = false;
  while (!check.signal?.aborted) {
    try {
      const { StreamDescriptionSummary: summary } = await client.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
      const status = summary?.StreamStatus;
      if (status === 'ACTIVE' || status === 'UPDATING') return summary?.OpenShardCount ?? 0;
      if (status === 'DELETING') throw new StreamError('stream_deleting', `stream ${stream} at ${where} is being deleted`);
    } catch (err) {
      const name = (err as Error).name;
      if (err instanceof StreamError) throw err;
      if (name === 'ResourceNotFoundException' && check.createShards && !created) {
        await client.send(new CreateStreamCommand({ StreamName: stream, ShardCount: check.createShards }));
        created = true;
      } else if (name === 'ResourceNotFoundException' && !check.createShards) {
        throw new StreamError(
          'stream_not_found',
          `stream ${stream} does not exist at ${where}; create it first (for example: aws kinesis create-stream --stream-name ${stream} --shard-count 4)`,
        );
      } else if (name !== 'ResourceNotFoundException' && Date.now() - lastUnreachableLog > UNREACHABLE_LOG_INTERVAL_MS) {
        log.warn({ error: name, detail: (err as Error).message, stream, where }, 'Kinesis is not reachable yet; staying unready and retrying');
        lastUnreachableLog = Date.now();
      }
    }
    await sleep(POLL_MS);
  }
  throw new StreamError('stream_wait_cancelled', 'start-up was cancelled');
}
