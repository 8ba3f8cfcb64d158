import {
  DurabilityLevel,
  AmbiguousTimeoutError,
  AuthenticationFailureError,
  BucketNotFoundError,
  CasMismatchError,
  connect,
  DocumentExistsError,
  DocumentLockedError,
  DocumentNotFoundError,
  PathExistsError,
  PathNotFoundError,
  RequestCanceledError,
  ServiceNotAvailableError,
  ServiceType,
  TemporaryFailureError,
  TimeoutError,
  UnambiguousTimeoutError,
  type Bucket,
  type Cluster,
  type Collection,
} from 'couchbase';
import { retry } from '../../../common/backoff.js';
import { PcmError } from '../../../common/errors.js';
import type { CouchbaseDurability, CouchbaseStoreConfig } from './couchbase-config.js';

/**
 * Errors that say something about the data, not the store's health: callers branch on
 * them (insert-if-absent, CAS loops), so they pass through unwrapped.
 */
export function isLogicalError(err: unknown): boolean {
  return (
    err instanceof DocumentNotFoundError ||
    err instanceof DocumentExistsError ||
    err instanceof CasMismatchError ||
    err instanceof PathNotFoundError ||
    err instanceof PathExistsError
  );
}

/** Failures worth another attempt: the store is slow, busy or rebalancing. */
export function isTransientCouchbaseError(err: unknown): boolean {
  return (
    err instanceof TimeoutError ||
    err instanceof AmbiguousTimeoutError ||
    err instanceof UnambiguousTimeoutError ||
    err instanceof TemporaryFailureError ||
    err instanceof ServiceNotAvailableError ||
    err instanceof DocumentLockedError ||
    err instanceof RequestCanceledError
  );
}

/**
 * Bound for optimistic (CAS) loops on one hot document: every round lets at least one
 * contender through, so N concurrent writers need at most N rounds; beyond this the
 * operation gives up with PCM_ERR_STORE_UNAVAILABLE rather than spin.
 */
export const CAS_ATTEMPTS = 100;

export const isNotFound = (err: unknown): boolean => err instanceof DocumentNotFoundError;
export const isExists = (err: unknown): boolean => err instanceof DocumentExistsError;
export const isCasMismatch = (err: unknown): boolean => err instanceof CasMismatchError || err instanceof DocumentExistsError;

/**
 * One connection to a bucket/collection, shared by the message store and the session
 * directory. Every KV call goes through `op()`: bounded retries with full-jitter backoff
 * on transient errors, then anything that is not a logical outcome becomes
 * PCM_ERR_STORE_UNAVAILABLE, which the sender API answers with 503 (invariant 2.1).
 */
export class CouchbaseConnection {
  private closed = false;
  /** Owners sharing this connection (store + directory); the last close() closes it. */
  private refs = 1;
  private constructor(
    private readonly cluster: Cluster,
    readonly bucket: Bucket,
    readonly collection: Collection,
    private readonly opAttempts: number,
    /** For message and counter writes (DurabilityLevel); undefined = none requested. */
    readonly durabilityLevel?: DurabilityLevel,
    /** Per KV operation timeout in use (ms). */
    readonly kvTimeoutMs = 2_500,
  ) {}

  static async connect(cfg: CouchbaseStoreConfig): Promise<CouchbaseConnection> {
    const kvTimeout = cfg.kvTimeoutMs ?? 2_500;
    const connectTimeout = cfg.connectTimeoutMs ?? 10_000;
    const attempt = async (): Promise<CouchbaseConnection> => {
      let cluster: Cluster | undefined;
      try {
        cluster = await connect(cfg.connectionString, {
          username: cfg.username,
          password: cfg.password,
          timeouts: { kvTimeout, connectTimeout, bootstrapTimeout: connectTimeout },
        });
        const bucket = cluster.bucket(cfg.bucket);
        // KV only (DESIGN.md section 4): don't wait for query/search services we never use.
        await bucket.waitUntilReady(connectTimeout, { serviceTypes: [ServiceType.KeyValue] });
        const collection = bucket.scope(cfg.scope ?? '_default').collection(cfg.collection ?? '_default');
        return new CouchbaseConnection(cluster, bucket, collection, cfg.opAttempts ?? 3, durabilityLevelOf(cfg.durability), kvTimeout);
      } catch (err) {
        await cluster?.close().catch(() => undefined);
        throw err;
      }
    };
    try {
      return await retry(attempt, {
        attempts: cfg.connectAttempts ?? 5,
        baseMs: 200,
        capMs: 3_000,
        // A wrong password or bucket will not fix itself; anything else might (server starting).
        isTransient: (err) => !(err instanceof AuthenticationFailureError || err instanceof BucketNotFoundError),
      });
    } catch (err) {
      throw new PcmError('PCM_ERR_STORE_UNAVAILABLE', `cannot connect to Couchbase at ${redact(cfg.connectionString)} bucket ${cfg.bucket}: ${describe(err)}`, {
        cause: err,
      });
    }
  }

  /** Runs one KV operation with bounded retries; see the class comment for error mapping. */
  async op<T>(what: string, fn: () => Promise<T>, opts: { attempts?: number } = {}): Promise<T> {
    if (this.closed) throw new PcmError('PCM_ERR_STORE_UNAVAILABLE', `Couchbase connection is closed (${what})`);
    try {
      return await retry(() => fn(), {
        attempts: opts.attempts ?? this.opAttempts,
        baseMs: 20,
        capMs: 250,
        isTransient: isTransientCouchbaseError,
      });
    } catch (err) {
      if (isLogicalError(err) || err instanceof PcmError) throw err;
      throw new PcmError('PCM_ERR_STORE_UNAVAILABLE', `Couchbase ${what} failed: ${describe(err)}`, { cause: err });
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** One more owner: each acquire() needs its own close(). */
  acquire(): this {
    if (this.closed) throw new PcmError('PCM_ERR_STORE_UNAVAILABLE', 'Couchbase connection is closed');
    this.refs++;
    return this;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (--this.refs > 0) return;
    this.closed = true;
    await this.cluster.close();
  }
}

const DURABILITY: Record<CouchbaseDurability, DurabilityLevel | undefined> = {
  none: undefined,
  majority: DurabilityLevel.Majority,
  majorityAndPersistActive: DurabilityLevel.MajorityAndPersistOnMaster,
  persistToMajority: DurabilityLevel.PersistToMajority,
};

export function durabilityLevelOf(d: CouchbaseDurability | undefined): DurabilityLevel | undefined {
  return d === undefined ? undefined : DURABILITY[d];
}

function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

/** Connection strings may carry credentials in query parameters; keep them out of errors. */
function redact(connstr: string): string {
  return connstr.replace(/([?&](?:password|pass|pwd)=)[^&]*/gi, '$1***');
}
