// The Kinesis Data Streams limits the gateway works within, in one place: the envelope writer refuses
// an event over the record limit, the spool sizes its entries by it, the main thread closes ring
// batches within one PutRecords call and bounds the bytes in flight by the shards' rate, and the
// workers split records into calls and pace each shard.
// https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html

/** Data plus partition key of one record. */
export const MAX_RECORD_BYTES = 1024 * 1024;
/** Kinesis allows 1 to 256 characters; counting bytes is the safe side of that. */
export const MAX_PARTITION_KEY_BYTES = 256;

export const MAX_RECORDS_PER_REQUEST = 500;
export const MAX_BYTES_PER_REQUEST = 5 * 1024 * 1024;

export const SHARD_RECORDS_PER_SECOND = 1000;
export const SHARD_BYTES_PER_SECOND = 1024 * 1024;
