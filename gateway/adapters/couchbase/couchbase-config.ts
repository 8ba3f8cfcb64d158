import { Type } from 'typebox';
import { PcmError } from '../../../common/errors.js';

/**
 * Couchbase settings for the gateway's config schema (DESIGN.md section 7: one schema per
 * process). Spread `couchbaseConfigProperties` into the gateway schema; every field then
 * comes from a flag or `PCM_COUCHBASE_*` (the password also from `PCM_COUCHBASE_PASSWORD_FILE`,
 * a mounted secret), and `couchbaseConfigFrom(config)` turns it into the adapter's options.
 */
export const couchbaseConfigProperties = {
  couchbaseConnectionString: Type.String({ default: '', description: 'Couchbase connection string, e.g. `couchbase://10.0.0.5` (required when PCM_STORE=couchbase).' }),
  couchbaseBucket: Type.String({ default: 'pcm', minLength: 1, description: 'Couchbase bucket holding the message store and presence records.' }),
  couchbaseScope: Type.String({ default: '_default', minLength: 1, description: 'Scope inside the bucket.' }),
  couchbaseCollection: Type.String({ default: '_default', minLength: 1, description: 'Collection inside the scope.' }),
  couchbaseUsername: Type.String({ default: '', description: 'Couchbase RBAC user.' }),
  couchbasePassword: Type.String({ default: '', description: 'Couchbase password (prefer PCM_COUCHBASE_PASSWORD_FILE, a mounted secret).' }),
  couchbaseKvTimeoutMs: Type.Integer({ default: 2500, minimum: 100, description: 'Timeout of one key-value operation (ms); each is retried up to 3 times on transient errors.' }),
  couchbaseConnectTimeoutMs: Type.Integer({ default: 10_000, minimum: 500, description: 'waitUntilReady budget per connect attempt (ms); up to 5 attempts with backoff.' }),
  couchbaseDurability: Type.Union([Type.Literal('none'), Type.Literal('majority'), Type.Literal('majorityAndPersistActive'), Type.Literal('persistToMajority')], {
    default: 'none',
    description: 'Synchronous durability of message and counter writes (none|majority|majorityAndPersistActive|persistToMajority); needs replicas. Untested against a server: CouchbaseMock cancels durable writes.',
  }),
};

export type CouchbaseDurability = 'none' | 'majority' | 'majorityAndPersistActive' | 'persistToMajority';

export interface CouchbaseStoreConfig {
  connectionString: string;
  bucket: string;
  /** Default `_default`. */
  scope?: string;
  /** Default `_default`. */
  collection?: string;
  username: string;
  password: string;
  /** Per KV operation timeout; default 2500 ms. */
  kvTimeoutMs?: number;
  /** waitUntilReady budget per connect attempt; default 10 s. */
  connectTimeoutMs?: number;
  /** Connect attempts (with full-jitter backoff between them); default 5. */
  connectAttempts?: number;
  /** Attempts per KV operation on transient errors (timeouts, temporary failures); default 3. */
  opAttempts?: number;
  /** durabilityLevel of message and counter writes; default 'none' (not requested). */
  durability?: CouchbaseDurability;
}

/** The gateway config's Couchbase fields; the ones beyond the first four are optional. */
export interface FlatCouchbaseConfig {
  couchbaseConnectionString: string;
  couchbaseBucket: string;
  couchbaseUsername: string;
  couchbasePassword: string;
  couchbaseScope?: string;
  couchbaseCollection?: string;
  couchbaseKvTimeoutMs?: number;
  couchbaseConnectTimeoutMs?: number;
  couchbaseDurability?: CouchbaseDurability;
}

export function couchbaseConfigFrom(c: FlatCouchbaseConfig): CouchbaseStoreConfig {
  if (!c.couchbaseConnectionString) {
    throw new PcmError(
      'PCM_ERR_CONFIG',
      'invalid configuration: couchbaseConnectionString (PCM_COUCHBASE_CONNECTION_STRING / --couchbase-connection-string) is required with store=couchbase',
      { details: { field: 'couchbaseConnectionString', env: 'PCM_COUCHBASE_CONNECTION_STRING' } },
    );
  }
  const out: CouchbaseStoreConfig = {
    connectionString: c.couchbaseConnectionString,
    bucket: c.couchbaseBucket,
    username: c.couchbaseUsername,
    password: c.couchbasePassword,
  };
  if (c.couchbaseScope !== undefined) out.scope = c.couchbaseScope;
  if (c.couchbaseCollection !== undefined) out.collection = c.couchbaseCollection;
  if (c.couchbaseKvTimeoutMs !== undefined) out.kvTimeoutMs = c.couchbaseKvTimeoutMs;
  if (c.couchbaseConnectTimeoutMs !== undefined) out.connectTimeoutMs = c.couchbaseConnectTimeoutMs;
  if (c.couchbaseDurability !== undefined && c.couchbaseDurability !== 'none') out.durability = c.couchbaseDurability;
  return out;
}
