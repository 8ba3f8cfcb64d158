import { LRUCache } from 'lru-cache';

/**
 * Flapping detection (issue 8, "Reconnect storm"): a terminal id that connects more than
 * `limit` times within `windowMs` is slowed down. Its next connect is refused at the door
 * (WebSocket 503 + Retry-After, MQTT CONNACK 3) for a penalty that doubles each time the
 * terminal is caught again (capped at `maxPenaltyMs`); a terminal that stays out of trouble
 * for a whole window after its last penalty starts from the base penalty again.
 *
 * Only authenticated connects count (the check runs after the token, so nobody can get
 * another terminal slowed down by dialling with its id), and connects the server itself asked
 * for do not count: a session the gateway ended with a `drain` frame (scale-down, shutdown,
 * session cap) or because of its own failure (store unavailable) gets one free reconnect
 * (excuse()). Refusals of the takeover damper are not excused: that loop is the terminal's.
 *
 * Like the takeover damper, this runs per gateway: discovery maps a terminal id to one
 * gateway, so a flapping terminal keeps meeting the same one. Memory is bounded by an LRU
 * of terminals whose entries expire once they are a window old.
 */
export interface FlapDetectorOptions {
  /** Connects allowed per window; the next one is refused. 0 turns detection off. */
  limit?: number;
  windowMs?: number;
  /** First penalty; doubles with every penalty while the terminal keeps flapping. */
  basePenaltyMs?: number;
  maxPenaltyMs?: number;
  /** Terminals remembered at most (least recently seen forgotten first). */
  maxTerminals?: number;
}

export type FlapVerdict =
  | { ok: true }
  | {
      ok: false;
      /** The retry hint: how long the terminal should stay away. */
      retryAfterMs: number;
      /** True when this refusal started a penalty (log it once); false for an early return. */
      flagged: boolean;
      /** Penalties so far in this flapping episode (1 for the first). */
      strikes: number;
      /** Connects counted in the window when it was flagged. */
      connects: number;
    };

interface Entry {
  /** Counted connect times inside the window, oldest first. */
  times: number[];
  blockedUntil: number;
  strikes: number;
  /** A server-initiated disconnect: the next connect until this time is free. */
  excusedUntil: number;
}

export const FLAP_DEFAULTS = { limit: 10, windowMs: 60_000, basePenaltyMs: 10_000, maxPenaltyMs: 300_000, maxTerminals: 100_000 } as const;

export class FlapDetector {
  readonly limit: number;
  readonly windowMs: number;
  private readonly basePenaltyMs: number;
  private readonly maxPenaltyMs: number;
  private readonly entries: LRUCache<string, Entry>;

  constructor(opts: FlapDetectorOptions = {}) {
    this.limit = opts.limit ?? FLAP_DEFAULTS.limit;
    this.windowMs = Math.max(1, opts.windowMs ?? FLAP_DEFAULTS.windowMs);
    this.basePenaltyMs = Math.max(1, opts.basePenaltyMs ?? FLAP_DEFAULTS.basePenaltyMs);
    this.maxPenaltyMs = Math.max(this.basePenaltyMs, opts.maxPenaltyMs ?? FLAP_DEFAULTS.maxPenaltyMs);
    this.entries = new LRUCache({ max: Math.max(1, opts.maxTerminals ?? FLAP_DEFAULTS.maxTerminals) });
  }

  get enabled(): boolean {
    return this.limit > 0;
  }

  /** Terminals currently remembered (tests, metrics). */
  get size(): number {
    return this.entries.size;
  }

  /** An authenticated connect of `terminalId` at `now`: admit (and count it) or refuse with a retry hint. */
  onConnect(terminalId: string, now: number): FlapVerdict {
    if (!this.enabled) return { ok: true };
    const e = this.entries.get(terminalId) ?? { times: [], blockedUntil: 0, strikes: 0, excusedUntil: 0 };
    if (now < e.blockedUntil) {
      // Back before its penalty ended: refused again with what is left (no growth, so a
      // client that retries on its own backoff is not punished for not reading the hint).
      this.keep(terminalId, e, now);
      return { ok: false, retryAfterMs: e.blockedUntil - now, flagged: false, strikes: e.strikes, connects: e.times.length };
    }
    if (e.excusedUntil > now) {
      // The server told it to reconnect (drain, shutdown, store failure): free, not counted.
      e.excusedUntil = 0;
      this.keep(terminalId, e, now);
      return { ok: true };
    }
    e.times = e.times.filter((t) => now - t < this.windowMs);
    if (e.strikes > 0 && now - e.blockedUntil >= this.windowMs) e.strikes = 0; // a quiet window forgives
    if (e.times.length < this.limit) {
      e.times.push(now);
      this.keep(terminalId, e, now);
      return { ok: true };
    }
    const connects = e.times.length;
    const penalty = Math.min(this.maxPenaltyMs, this.basePenaltyMs * 2 ** Math.min(e.strikes, 30));
    e.strikes++;
    e.blockedUntil = now + penalty;
    // A fresh count after the penalty: the next `limit` connects pass, then a doubled penalty.
    e.times = [];
    this.keep(terminalId, e, now);
    return { ok: false, retryAfterMs: penalty, flagged: true, strikes: e.strikes, connects };
  }

  /**
   * The server ended this terminal's session and asked it to come back (drain frame, store
   * failure): its next connect within `reconnectAfterMs` plus one window is not counted.
   */
  excuse(terminalId: string, reconnectAfterMs: number, now: number): void {
    if (!this.enabled) return;
    const e = this.entries.get(terminalId) ?? { times: [], blockedUntil: 0, strikes: 0, excusedUntil: 0 };
    e.excusedUntil = now + Math.max(0, reconnectAfterMs) + this.windowMs;
    this.keep(terminalId, e, now);
  }

  /** Stores the entry with a TTL covering whatever it still remembers. */
  private keep(terminalId: string, e: Entry, now: number): void {
    const until = Math.max(e.blockedUntil + (e.strikes > 0 ? this.windowMs : 0), e.excusedUntil, (e.times[e.times.length - 1] ?? 0) + this.windowMs);
    const ttl = Math.max(1, until - now);
    this.entries.set(terminalId, e, { ttl });
  }
}
