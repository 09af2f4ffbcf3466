// Shared by both threads: the limits of one PutRecords call and of one shard's writes. The main
// thread closes ring batches within them and bounds the bytes in flight by them; the workers split
// records into calls and pace the shards by them.

export const MAX_RECORDS_PER_REQUEST = 500;
export const MAX_BYTES_PER_REQUEST = 5 * 1024 * 1024;
/** Data plus partition key of one record. */
export const MAX_RECORD_BYTES = 1024 * 1024;

export const SHARD_RECORDS_PER_SECOND = 1000;
export const SHARD_BYTES_PER_SECOND = 1024 * 1024;
