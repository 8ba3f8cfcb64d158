import { createHash } from 'node:crypto';

/**
 * Document keys of the KV data model (DESIGN.md section 4). Terminal ids may contain ':',
 * so sender-chosen keys (collapse, idempotency) are hashed into a fixed-length segment
 * without ':'; that keeps every key unambiguous and under Couchbase's 250-byte limit.
 */
export const keys = {
  /** `{epoch, seq}`: the per-terminal counter; its epoch is born with the document. */
  counter: (t: string) => `ctr::${t}`,
  /** `{epoch, seq}`: the cumulative ack cursor, valid only for the counter's epoch. */
  cursor: (t: string) => `cur::${t}`,
  /** One message, expiring with its TTL. */
  message: (t: string, seq: number) => `msg::${t}::${seq}`,
  /** `{epoch, seq}` of the newest message with that collapse key. */
  collapse: (t: string, key: string) => `col::${t}::${digest(key)}`,
  /** The first result of an append with that idempotency key. */
  idempotency: (t: string, key: string) => `idem::${t}::${digest(key)}`,
  /** Presence record (session directory), expiring unless refreshed. */
  presence: (t: string) => `presence::${t}`,
  /** Binary counter: the connection-epoch high-water mark, outliving presence records. */
  presenceEpoch: (t: string) => `pepoch::${t}`,
};

function digest(key: string): string {
  return createHash('sha256').update(key).digest('base64url');
}
