import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { PcmError } from '../../../common/errors.js';

/**
 * `synchronous` in WAL mode decides what "durable before 202" (invariant 2.1) survives:
 * - FULL (default): the WAL is fsynced at every commit, so an accepted message survives
 *   a process kill AND an OS crash or power loss.
 * - NORMAL: commits reach the OS page cache only; they survive `kill -9` of the process
 *   but the last transactions may be lost on power loss. Faster (see bench/store.bench.ts).
 */
export type SqliteSynchronous = 'FULL' | 'NORMAL';

export interface SqliteOptions {
  /** Database file; its directory is created if missing. ':memory:' for throwaway tests. */
  file: string;
  synchronous?: SqliteSynchronous;
  /** How long a writer waits for another process's lock before failing (ms). */
  busyTimeoutMs?: number;
}

export function openSqlite(opts: SqliteOptions): Database.Database {
  try {
    if (opts.file !== ':memory:') mkdirSync(path.dirname(path.resolve(opts.file)), { recursive: true });
    const db = new Database(opts.file, { timeout: opts.busyTimeoutMs ?? 5_000 });
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
    return db;
  } catch (err) {
    throw sqliteError(err, `cannot open SQLite database ${opts.file}`);
  }
}

/**
 * Any SQLite failure (disk full, I/O error, busy past the timeout, closed handle) means
 * the operation did not happen: a transient store error, answered 503 (invariant 2.1).
 * Transactions roll back on throw, so nothing half-written is visible.
 */
export function sqliteError(err: unknown, what: string): PcmError {
  if (err instanceof PcmError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new PcmError('PCM_ERR_STORE_UNAVAILABLE', `${what}: ${detail}`, { cause: err });
}
