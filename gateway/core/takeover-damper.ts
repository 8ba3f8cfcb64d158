import { LRUCache } from 'lru-cache';

/**
 * Takeover-loop damping (issue 5): two devices sharing one terminal id take the session from
 * each other on every reconnect. After `limit` takeovers of one terminal within `windowMs`,
 * further takeovers are refused: the newcomer gets a `drain` frame whose `reconnectAfterMs`
 * doubles with every refusal (capped), and the session in place is kept. Discovery maps a
 * terminal id to one gateway, so both devices normally meet on the same gateway, where this
 * runs. Memory is bounded by an LRU of terminals.
 */
export interface TakeoverDamperOptions {
  limit?: number;
  windowMs?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  maxTerminals?: number;
}

interface Entry {
  times: number[];
  refusals: number;
}

export class TakeoverDamper {
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly entries: LRUCache<string, Entry>;

  constructor(opts: TakeoverDamperOptions = {}) {
    this.limit = opts.limit ?? 5;
    this.windowMs = opts.windowMs ?? 60_000;
    this.baseDelayMs = opts.baseDelayMs ?? 5_000;
    this.maxDelayMs = opts.maxDelayMs ?? 300_000;
    this.entries = new LRUCache({ max: opts.maxTerminals ?? 10_000 });
  }

  /**
   * Called when a connection would take over a live session of the same terminal. Returns
   * undefined to allow it, or the reconnect delay to give the newcomer instead.
   */
  onTakeover(terminalId: string, now: number): number | undefined {
    let e = this.entries.get(terminalId);
    if (!e) {
      e = { times: [], refusals: 0 };
      this.entries.set(terminalId, e);
    }
    e.times = e.times.filter((t) => now - t < this.windowMs);
    if (e.times.length < this.limit) {
      e.times.push(now);
      if (e.times.length === 1) e.refusals = 0;
      return undefined;
    }
    const delay = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(e.refusals, 20));
    e.refusals++;
    return delay;
  }
}
