import { Type } from 'typebox';

/**
 * Couchbase settings for the gateway's config schema (DESIGN.md section 7: one schema per
 * process). Spread `couchbaseConfigProperties` into the gateway schema; every field then
 * comes from a flag or `PCM_COUCHBASE_*` (the password also from `PCM_COUCHBASE_PASSWORD_FILE`,
 * a mounted secret), and `couchbaseConfigFrom(config)` turns it into the adapter's options.
 */
export const couchbaseConfigProperties = {
  couchbaseConnectionString: Type.String({ default: 'couchbase://127.0.0.1', description: 'Couchbase connection string' }),
  couchbaseBucket: Type.String({ default: 'pcm', minLength: 1, description: 'Couchbase bucket holding the message store' }),
  couchbaseScope: Type.String({ default: '_default', minLength: 1, description: 'Scope inside the bucket' }),
  couchbaseCollection: Type.String({ default: '_default', minLength: 1, description: 'Collection inside the scope' }),
  couchbaseUsername: Type.String({ default: 'pcm', description: 'Couchbase RBAC user' }),
  couchbasePassword: Type.String({ default: '', description: 'Couchbase password (or PCM_COUCHBASE_PASSWORD_FILE)' }),
  couchbaseKvTimeoutMs: Type.Integer({ default: 2500, minimum: 100, description: 'Per key-value operation timeout (ms)' }),
  couchbaseConnectTimeoutMs: Type.Integer({ default: 10_000, minimum: 500, description: 'waitUntilReady budget per connect attempt (ms)' }),
};

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
}

type FlatCouchbaseConfig = {
  couchbaseConnectionString: string;
  couchbaseBucket: string;
  couchbaseScope: string;
  couchbaseCollection: string;
  couchbaseUsername: string;
  couchbasePassword: string;
  couchbaseKvTimeoutMs: number;
  couchbaseConnectTimeoutMs: number;
};

export function couchbaseConfigFrom(c: FlatCouchbaseConfig): CouchbaseStoreConfig {
  return {
    connectionString: c.couchbaseConnectionString,
    bucket: c.couchbaseBucket,
    scope: c.couchbaseScope,
    collection: c.couchbaseCollection,
    username: c.couchbaseUsername,
    password: c.couchbasePassword,
    kvTimeoutMs: c.couchbaseKvTimeoutMs,
    connectTimeoutMs: c.couchbaseConnectTimeoutMs,
  };
}
