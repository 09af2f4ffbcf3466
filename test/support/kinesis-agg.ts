// aws-kinesis-agg, the reference (de)aggregation library, with just the types these tests use.

export interface ReferenceUserRecord {
  partitionKey: string;
  data: string; // base64
}

interface KinesisAgg {
  deaggregateSync(
    record: { partitionKey: string; data: string; sequenceNumber: string; kinesisSchemaVersion: string; approximateArrivalTimestamp: number },
    computeChecksums: boolean,
    done: (err: Error | null, records?: ReferenceUserRecord[]) => void,
  ): void;
  aggregate(
    records: { partitionKey: string; data: Buffer }[],
    onEncoded: (encoded: { partitionKey: string; data: Buffer }, callback: (err?: Error) => void) => void,
    afterAll: () => void,
    onError: (err: Error) => void,
  ): void;
}

export const kinesisAgg: KinesisAgg = require('aws-kinesis-agg');

/** De-aggregates one Kinesis record the way a KCL/Lambda consumer does; throws on a bad checksum. */
export function referenceDeaggregate(data: Uint8Array, partitionKey: string): { partitionKey: string; data: Buffer }[] {
  let out: { partitionKey: string; data: Buffer }[] | undefined;
  kinesisAgg.deaggregateSync(
    { partitionKey, data: Buffer.from(data).toString('base64'), sequenceNumber: '1', kinesisSchemaVersion: '1.0', approximateArrivalTimestamp: 0 },
    true,
    (err, records) => {
      if (err) throw err;
      out = records!.map((r) => ({ partitionKey: r.partitionKey, data: Buffer.from(r.data, 'base64') }));
    },
  );
  return out!;
}
