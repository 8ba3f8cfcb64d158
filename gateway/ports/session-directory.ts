import type { Protocol } from '../../protocol/frames.js';

/**
 * SessionDirectory port (DESIGN.md section 3): where each connected terminal lives.
 * Records expire unless refreshed by the owning gateway's heartbeat, so a dead gateway's
 * terminals become "unknown owner" on their own.
 */
export interface Presence {
  terminalId: string;
  gatewayId: string;
  sessionId: string;
  protocol: Protocol;
  /** Monotonic per terminal: every claim gets a higher one. Fences takeovers. */
  connectionEpoch: number;
  connectedAt: number;
}

export interface ClaimResult {
  presence: Presence;
  /** The record this claim replaced (possibly on another gateway), if it was still live. */
  previous?: Presence;
}

export interface SessionDirectory {
  readonly kind: string;
  claim(p: Omit<Presence, 'connectionEpoch'>, ttlMs: number): Promise<ClaimResult>;
  /** Extends the TTL of records still held by (gatewayId, connectionEpoch); others are left alone. */
  refresh(records: Array<Pick<Presence, 'terminalId' | 'gatewayId' | 'connectionEpoch'>>, ttlMs: number): Promise<void>;
  /** Removes the record only if it still belongs to (gatewayId, connectionEpoch). */
  release(terminalId: string, gatewayId: string, connectionEpoch: number): Promise<void>;
  lookup(terminalId: string): Promise<Presence | undefined>;
  close(): Promise<void>;
}
