import { systemClock, type Clock } from '../../../common/clock.js';
import { PcmError } from '../../../common/errors.js';
import type { Protocol } from '../../../protocol/frames.js';
import type { ClaimResult, Presence, SessionDirectory } from '../../ports/session-directory.js';
import type { CouchbaseStoreConfig } from './couchbase-config.js';
import { CAS_ATTEMPTS, CouchbaseConnection, isCasMismatch, isExists, isNotFound } from './couchbase-connection.js';
import { keys } from './couchbase-keys.js';

interface PresenceDoc {
  terminalId: string;
  gatewayId: string;
  sessionId: string;
  protocol: Protocol;
  connectionEpoch: number;
  connectedAt: number;
  /** Checked against the injected clock as well as expired by the server. */
  expiresAt: number;
}

/**
 * SessionDirectory on Couchbase KV (DESIGN.md section 3): `presence::<t>` expires unless
 * the owning gateway refreshes it; `pepoch::<t>` is a binary counter that hands out
 * connection epochs and never expires, so every claim is fenced above all earlier ones.
 * Writes are CAS-guarded: refresh and release touch a record only while it is still
 * (gateway, epoch)'s, so a takeover on another gateway is never undone.
 */
export class CouchbaseSessionDirectory implements SessionDirectory {
  readonly kind = 'couchbase';
  private closed = false;

  constructor(
    readonly conn: CouchbaseConnection,
    private readonly clock: Clock = systemClock,
    private readonly ownsConnection = false,
  ) {}

  static async connect(cfg: CouchbaseStoreConfig, clock: Clock = systemClock): Promise<CouchbaseSessionDirectory> {
    return new CouchbaseSessionDirectory(await CouchbaseConnection.connect(cfg), clock, true);
  }

  private get coll() {
    return this.conn.collection;
  }

  async claim(p: Omit<Presence, 'connectionEpoch'>, ttlMs: number): Promise<ClaimResult> {
    const counter = await this.conn.op('next connection epoch', () =>
      this.coll.binary().increment(keys.presenceEpoch(p.terminalId), 1, { initial: 1 }),
    );
    const presence: Presence = { ...p, connectionEpoch: Number(counter.value) };
    const key = keys.presence(p.terminalId);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const now = this.clock.now();
      const cur = await this.read(p.terminalId);
      const previous = cur && cur.doc.expiresAt > now ? toPresence(cur.doc) : undefined;
      // A concurrent claim with a higher epoch already won: leave it in place.
      if (previous && previous.connectionEpoch > presence.connectionEpoch) return { presence };
      const doc: PresenceDoc = { ...presence, expiresAt: now + ttlMs };
      try {
        if (cur) await this.conn.op('claim presence', () => this.coll.replace(key, doc, { cas: cur.cas, expiry: seconds(ttlMs) }));
        else await this.conn.op('claim presence', () => this.coll.insert(key, doc, { expiry: seconds(ttlMs) }));
      } catch (err) {
        if (isCasMismatch(err) || isExists(err) || isNotFound(err)) continue;
        throw err;
      }
      return previous ? { presence, previous } : { presence };
    }
    throw new PcmError('PCM_ERR_STORE_UNAVAILABLE', `presence of ${p.terminalId} is too contended; retry`);
  }

  async refresh(
    records: Array<Pick<Presence, 'terminalId' | 'gatewayId' | 'connectionEpoch'>>,
    ttlMs: number,
  ): Promise<void> {
    // In slices: a gateway refreshes all its sessions per heartbeat (possibly 100k), and
    // a few hundred KV operations in flight is plenty to keep the pipe full.
    for (let i = 0; i < records.length; i += REFRESH_CONCURRENCY) {
      await Promise.all(records.slice(i, i + REFRESH_CONCURRENCY).map((r) => this.refreshOne(r, ttlMs)));
    }
  }

  /** CAS-guarded: only the record still held by (gateway, epoch) is extended. */
  private async refreshOne(r: Pick<Presence, 'terminalId' | 'gatewayId' | 'connectionEpoch'>, ttlMs: number): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = this.clock.now();
      const cur = await this.read(r.terminalId);
      if (!cur || cur.doc.expiresAt <= now || !owns(cur.doc, r.gatewayId, r.connectionEpoch)) return;
      const doc: PresenceDoc = { ...cur.doc, expiresAt: now + ttlMs };
      try {
        await this.conn.op('refresh presence', () =>
          this.coll.replace(keys.presence(r.terminalId), doc, { cas: cur.cas, expiry: seconds(ttlMs) }),
        );
        return;
      } catch (err) {
        if (isCasMismatch(err) || isNotFound(err)) continue;
        throw err;
      }
    }
  }

  async release(terminalId: string, gatewayId: string, connectionEpoch: number): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = await this.read(terminalId);
      if (!cur || !owns(cur.doc, gatewayId, connectionEpoch)) return;
      try {
        await this.conn.op('release presence', () => this.coll.remove(keys.presence(terminalId), { cas: cur.cas }));
        return;
      } catch (err) {
        if (isNotFound(err)) return;
        if (isCasMismatch(err)) continue;
        throw err;
      }
    }
  }

  async lookup(terminalId: string): Promise<Presence | undefined> {
    const cur = await this.read(terminalId);
    return cur && cur.doc.expiresAt > this.clock.now() ? toPresence(cur.doc) : undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsConnection) await this.conn.close();
  }

  private async read(terminalId: string) {
    try {
      const r = await this.conn.op('read presence', () => this.coll.get(keys.presence(terminalId)));
      return { doc: r.content as PresenceDoc, cas: r.cas };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}

const REFRESH_CONCURRENCY = 256;

function owns(doc: PresenceDoc, gatewayId: string, connectionEpoch: number): boolean {
  return doc.gatewayId === gatewayId && doc.connectionEpoch === connectionEpoch;
}

/** Couchbase expiry has 1 s resolution; round up so a record never dies early. */
function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

function toPresence(d: PresenceDoc): Presence {
  return {
    terminalId: d.terminalId,
    gatewayId: d.gatewayId,
    sessionId: d.sessionId,
    protocol: d.protocol,
    connectionEpoch: d.connectionEpoch,
    connectedAt: d.connectedAt,
  };
}
