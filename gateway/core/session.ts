import type { ClientProfile } from '../../protocol/frames.js';
import type { StoredMessage } from '../ports/message-store.js';
import type { TerminalConnection } from '../ports/terminal-connection.js';

/** At most this many request correlation ids are remembered per session (oldest forgotten). */
export const MAX_SESSION_CORRELATIONS = 1024;

/**
 * One live connection of one terminal, as the delivery engine sees it. Protocol-blind: the
 * transport hides behind `conn` (DESIGN.md section 7).
 *
 * Delivery cursor (issue 2 item 4, "live messages never overtake the drain"): `cursor` is the
 * highest seq written to this connection. Messages are only ever written in ascending seq
 * order starting at the store's ack cursor; a live message that is not exactly the next one
 * waits for the pump, which reads the store in seq order.
 */
export class Session {
  /** Highest seq written to this connection (starts at the store's ack cursor). */
  cursor = 0;
  /** Store ack cursor as this session knows it. */
  ackedSeq = 0;
  /** Seqs written and not yet acked, ascending: the in-flight window. */
  readonly inflight: number[] = [];
  /** ttl-0 messages (never in the store's pending set) waiting for their turn in seq order. */
  readonly volatile = new Map<number, StoredMessage>();
  /** Correlation ids of request messages written on this session and not yet replied to. */
  readonly correlations = new Set<string>();
  epoch: string | undefined;
  connectionEpoch: number | undefined;
  /** A takeover event arrived before this session's own claim returned: compare once it does. */
  supersededBy: number | undefined;
  profile: ClientProfile | undefined;
  /** welcome sent and cursor initialised: messages may be written. */
  ready = false;
  pumping = false;
  /** Set when something arrived while the pump ran: run another round. */
  again = false;
  /** The last store read returned less than asked: the connection has everything stored. */
  caughtUp = false;
  /** Paused by backpressure; the engine's resume sweep restarts it. */
  paused = false;
  closed = false;
  /** Highest store counter the resync sweep has already pumped for (engine.resyncSession). */
  resyncSeen = 0;
  /** When resyncSeen was recorded (clock ms); a counter still ahead is re-read after a while. */
  resyncSeenAt = 0;

  constructor(
    readonly conn: TerminalConnection,
    readonly sessionId: string,
    readonly connectedAt: number,
  ) {}

  get terminalId(): string {
    return this.conn.terminalId;
  }

  rememberCorrelation(id: string): void {
    if (this.correlations.size >= MAX_SESSION_CORRELATIONS) {
      const oldest = this.correlations.values().next().value;
      if (oldest !== undefined) this.correlations.delete(oldest);
    }
    this.correlations.add(id);
  }

  /** Drops acked seqs from the window; returns how many were removed. */
  settle(upTo: number): number {
    let n = 0;
    while (n < this.inflight.length && this.inflight[n]! <= upTo) n++;
    if (n > 0) this.inflight.splice(0, n);
    return n;
  }
}
