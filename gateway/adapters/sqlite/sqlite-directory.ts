import type Database from 'better-sqlite3';
import { systemClock, type Clock } from '../../../common/clock.js';
import { PcmError } from '../../../common/errors.js';
import type { Protocol } from '../../../protocol/frames.js';
import type { ClaimResult, Presence, SessionDirectory } from '../../ports/session-directory.js';
import { openSqlite, sqliteError, type SqliteOptions } from './sqlite-open.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS presence (
  terminal_id TEXT PRIMARY KEY,
  gateway_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  protocol TEXT NOT NULL,
  connection_epoch INTEGER NOT NULL,
  connected_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS presence_epochs (
  terminal_id TEXT PRIMARY KEY,
  epoch INTEGER NOT NULL
) WITHOUT ROWID;
`;

interface PresenceRow {
  terminal_id: string;
  gateway_id: string;
  session_id: string;
  protocol: string;
  connection_epoch: number;
  connected_at: number;
  expires_at: number;
}

/**
 * SessionDirectory on SQLite (DESIGN.md section 3): presence rows with an expiry, and a
 * separate epoch high-water mark per terminal that outlives the presence row, so a claim
 * after expiry is still fenced above every earlier one. Useful for gateways sharing one
 * host's file; a multi-host fleet uses the Couchbase directory.
 */
export class SqliteSessionDirectory implements SessionDirectory {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly stmt;
  private readonly claimTx;
  private closed = false;

  constructor(opts: SqliteOptions, private readonly clock: Clock = systemClock) {
    this.db = openSqlite(opts);
    try {
      this.db.exec(SCHEMA);
    } catch (err) {
      this.db.close();
      throw sqliteError(err, 'cannot create the SQLite session directory schema');
    }
    const db = this.db;
    this.stmt = {
      bumpEpoch: db.prepare<[string], { epoch: number }>(
        `INSERT INTO presence_epochs (terminal_id, epoch) VALUES (?, 1)
         ON CONFLICT (terminal_id) DO UPDATE SET epoch = epoch + 1 RETURNING epoch`,
      ),
      get: db.prepare<[string, number], PresenceRow>('SELECT * FROM presence WHERE terminal_id = ? AND expires_at > ?'),
      upsert: db.prepare(
        `INSERT OR REPLACE INTO presence (terminal_id, gateway_id, session_id, protocol, connection_epoch, connected_at, expires_at)
         VALUES (@terminal_id, @gateway_id, @session_id, @protocol, @connection_epoch, @connected_at, @expires_at)`,
      ),
      refresh: db.prepare(
        `UPDATE presence SET expires_at = ? WHERE terminal_id = ? AND gateway_id = ? AND connection_epoch = ? AND expires_at > ?`,
      ),
      release: db.prepare('DELETE FROM presence WHERE terminal_id = ? AND gateway_id = ? AND connection_epoch = ?'),
      sweep: db.prepare('DELETE FROM presence WHERE expires_at <= ?'),
    };
    this.claimTx = db.transaction((p: Omit<Presence, 'connectionEpoch'>, ttlMs: number): ClaimResult => {
      const now = this.clock.now();
      const prevRow = this.stmt.get.get(p.terminalId, now);
      const connectionEpoch = this.stmt.bumpEpoch.get(p.terminalId)!.epoch;
      const presence: Presence = { ...p, connectionEpoch };
      this.stmt.upsert.run({
        terminal_id: p.terminalId,
        gateway_id: p.gatewayId,
        session_id: p.sessionId,
        protocol: p.protocol,
        connection_epoch: connectionEpoch,
        connected_at: p.connectedAt,
        expires_at: now + ttlMs,
      });
      return prevRow ? { presence, previous: fromRow(prevRow) } : { presence };
    });
  }

  async claim(p: Omit<Presence, 'connectionEpoch'>, ttlMs: number): Promise<ClaimResult> {
    return this.run('claim', () => this.claimTx.immediate(p, ttlMs));
  }

  async refresh(
    records: Array<Pick<Presence, 'terminalId' | 'gatewayId' | 'connectionEpoch'>>,
    ttlMs: number,
  ): Promise<void> {
    this.run('refresh', () =>
      this.db.transaction(() => {
        const now = this.clock.now();
        for (const r of records) this.stmt.refresh.run(now + ttlMs, r.terminalId, r.gatewayId, r.connectionEpoch, now);
        this.stmt.sweep.run(now);
      })(),
    );
  }

  async release(terminalId: string, gatewayId: string, connectionEpoch: number): Promise<void> {
    this.run('release', () => this.stmt.release.run(terminalId, gatewayId, connectionEpoch));
  }

  async lookup(terminalId: string): Promise<Presence | undefined> {
    return this.run('lookup', () => {
      const row = this.stmt.get.get(terminalId, this.clock.now());
      return row ? fromRow(row) : undefined;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private run<T>(what: string, fn: () => T): T {
    if (this.closed) throw new PcmError('PCM_ERR_STORE_UNAVAILABLE', `SQLite session directory is closed (${what})`);
    try {
      return fn();
    } catch (err) {
      throw sqliteError(err, `SQLite session directory ${what} failed`);
    }
  }
}

function fromRow(r: PresenceRow): Presence {
  return {
    terminalId: r.terminal_id,
    gatewayId: r.gateway_id,
    sessionId: r.session_id,
    protocol: r.protocol as Protocol,
    connectionEpoch: r.connection_epoch,
    connectedAt: r.connected_at,
  };
}
