import type { ClientProfile } from '../../protocol/frames.js';
import type { StoredMessage } from '../ports/message-store.js';
import type { TerminalConnection } from '../ports/terminal-connection.js';

/** At most this many request correlation ids are remembered per session (oldest forgotten). */
export const MAX_SESSION_CORRELATIONS = 1024;

const EMPTY_VOLATILE: ReadonlyMap<number, StoredMessage> = new Map();
const EMPTY_CORRELATIONS: ReadonlySet<string> = new Set();

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
  /**
   * ttl-0 messages (never in the store's pending set) waiting for their turn in seq order, and
   * correlation ids of request messages written on this session and not yet replied to. Both
   * are empty for nearly every session, so they are created on first use (an idle terminal
   * costs what its fields cost: docs/benchmarks.md, memory).
   */
  private volatileMap: Map<number, StoredMessage> | undefined;
  private correlationSet: Set<string> | undefined;
  epoch: string | undefined;
  connectionEpoch: number | undefined;
  /** A takeover event arrived before this session's own claim returned: compare once it does. */
  supersededBy: number | undefined;
  /** The presence claim failed (directory unavailable): the presence refresh retries it. */
  claimPending = false;
  /** A retried claim is in flight. */
  claiming = false;
  profile: ClientProfile | undefined;
  /** welcome sent and cursor initialised: messages may be written. */
  ready = false;
  pumping = false;
  /** Set when something arrived while the pump ran: run another round. */
  again = false;
  /** The last store read returned less than asked: the connection has everything stored. */
  caughtUp = false;
  /** A message was offered before `ready` (appended after the connect read the queue state). */
  offeredBeforeReady = false;
  /** Paused by backpressure; the engine's resume sweep restarts it. */
  paused = false;
  closed = false;
  /** Highest store counter the resync sweep has already pumped for (engine.resyncSession). */
  resyncSeen = 0;
  /** When resyncSeen was recorded (clock ms); a counter still ahead is re-read after a while. */
  resyncSeenAt = 0;
  /** ackedSeq at the previous resync check of a session that was not caught up (-1: none yet). */
  resyncAckedSeq = -1;
  /** The terminal's own acks being stored right now (the resync check leaves their effect to them). */
  acking = 0;

  constructor(
    readonly conn: TerminalConnection,
    readonly sessionId: string,
    readonly connectedAt: number,
  ) {}

  get terminalId(): string {
    return this.conn.terminalId;
  }

  get volatile(): ReadonlyMap<number, StoredMessage> {
    return this.volatileMap ?? EMPTY_VOLATILE;
  }

  addVolatile(m: StoredMessage): void {
    (this.volatileMap ??= new Map()).set(m.seq, m);
  }

  deleteVolatile(seq: number): void {
    this.volatileMap?.delete(seq);
  }

  clearVolatile(): void {
    this.volatileMap = undefined;
  }

  get correlations(): ReadonlySet<string> {
    return this.correlationSet ?? EMPTY_CORRELATIONS;
  }

  forgetCorrelation(id: string): void {
    this.correlationSet?.delete(id);
  }

  rememberCorrelation(id: string): void {
    const set = (this.correlationSet ??= new Set());
    if (set.size >= MAX_SESSION_CORRELATIONS) {
      const oldest = set.values().next().value;
      if (oldest !== undefined) set.delete(oldest);
    }
    set.add(id);
  }

  /** Drops acked seqs from the window; returns how many were removed. */
  settle(upTo: number): number {
    let n = 0;
    while (n < this.inflight.length && this.inflight[n]! <= upTo) n++;
    if (n > 0) this.inflight.splice(0, n);
    return n;
  }
}
