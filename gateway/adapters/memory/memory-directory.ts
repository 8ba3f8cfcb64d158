import { PcmError } from '../../../common/errors.js';
import { systemClock, type Clock } from '../../../common/clock.js';
import type { ClaimResult, Presence, SessionDirectory } from '../../ports/session-directory.js';

interface Entry {
  presence: Presence;
  expiresAt: number;
}

/**
 * In-memory SessionDirectory (DESIGN.md section 3): presence records with a TTL, fenced
 * by a per-terminal connection epoch. The epoch high-water mark outlives the record
 * (a claim after expiry still gets a higher epoch), like the Couchbase adapter's
 * separate epoch counter. Single process only: a multi-gateway fleet needs a shared one.
 */
export class MemorySessionDirectory implements SessionDirectory {
  readonly kind = 'memory';
  private readonly records = new Map<string, Entry>();
  private readonly epochs = new Map<string, number>();
  private closed = false;

  constructor(private readonly clock: Clock = systemClock) {}

  async claim(p: Omit<Presence, 'connectionEpoch'>, ttlMs: number): Promise<ClaimResult> {
    this.checkOpen();
    const connectionEpoch = (this.epochs.get(p.terminalId) ?? 0) + 1;
    this.epochs.set(p.terminalId, connectionEpoch);
    const previous = this.live(p.terminalId);
    const presence: Presence = { ...p, connectionEpoch };
    this.records.set(p.terminalId, { presence, expiresAt: this.clock.now() + ttlMs });
    return previous ? { presence: { ...presence }, previous } : { presence: { ...presence } };
  }

  async refresh(
    records: Array<Pick<Presence, 'terminalId' | 'gatewayId' | 'connectionEpoch'>>,
    ttlMs: number,
  ): Promise<void> {
    this.checkOpen();
    const now = this.clock.now();
    for (const r of records) {
      const e = this.records.get(r.terminalId);
      // Only the live record still held by (gateway, epoch): a takeover elsewhere wins.
      if (!e || e.expiresAt <= now) continue;
      if (e.presence.gatewayId !== r.gatewayId || e.presence.connectionEpoch !== r.connectionEpoch) continue;
      e.expiresAt = now + ttlMs;
    }
  }

  async release(terminalId: string, gatewayId: string, connectionEpoch: number): Promise<void> {
    this.checkOpen();
    const e = this.records.get(terminalId);
    if (e && e.presence.gatewayId === gatewayId && e.presence.connectionEpoch === connectionEpoch) {
      this.records.delete(terminalId);
    }
  }

  async lookup(terminalId: string): Promise<Presence | undefined> {
    this.checkOpen();
    return this.live(terminalId);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private live(terminalId: string): Presence | undefined {
    const e = this.records.get(terminalId);
    if (!e) return undefined;
    if (e.expiresAt <= this.clock.now()) {
      this.records.delete(terminalId);
      return undefined;
    }
    return { ...e.presence };
  }

  private checkOpen(): void {
    if (this.closed) throw new PcmError('PCM_ERR_STORE_UNAVAILABLE', 'the memory session directory is closed');
  }
}
