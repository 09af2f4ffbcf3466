// Shared by both threads: the limits of one PutRecords call. The main thread closes ring batches
// within them; the workers split records into calls by them.

export const MAX_RECORDS_PER_REQUEST = 500;
export const MAX_BYTES_PER_REQUEST = 5 * 1024 * 1024;
/** Data plus partition key of one record. */
export const MAX_RECORD_BYTES = 1024 * 1024;
