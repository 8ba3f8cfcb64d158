import { LRUCache } from 'lru-cache';
import { DEFAULT_TIMELINE_LIMITS, type TerminalEvent, type Timeline, type TimelineLimits } from '../../ports/timeline.js';

/**
 * In-memory timeline: one bounded array per terminal, the terminals themselves in an LRU
 * (default 100,000) so a gateway that saw millions of terminals holds a bounded amount.
 */
interface EventRing {
  events: TerminalEvent[];
  /** Index of the oldest event once the ring is full (where the next one goes). */
  next: number;
}

export class MemoryTimeline implements Timeline {
  private readonly limits: TimelineLimits;
  /** Per terminal a ring of at most maxPerTerminal events: recording is O(1), no array shifting. */
  private readonly byTerminal: LRUCache<string, EventRing>;

  constructor(limits: Partial<TimelineLimits> & { maxTerminals?: number } = {}, private readonly now: () => number = Date.now) {
    this.limits = { ...DEFAULT_TIMELINE_LIMITS, ...limits };
    this.byTerminal = new LRUCache({ max: limits.maxTerminals ?? 100_000 });
  }

  record(event: TerminalEvent): void {
    let ring = this.byTerminal.get(event.terminalId);
    if (!ring) this.byTerminal.set(event.terminalId, (ring = { events: [], next: 0 }));
    if (ring.events.length < this.limits.maxPerTerminal) ring.events.push(event);
    else {
      ring.events[ring.next] = event; // overwrite the oldest
      ring.next = (ring.next + 1) % ring.events.length;
    }
  }

  async recent(terminalId: string, limit = this.limits.maxPerTerminal): Promise<TerminalEvent[]> {
    const ring = this.byTerminal.get(terminalId);
    if (!ring) return [];
    const oldest = this.now() - this.limits.ttlMs;
    const out: TerminalEvent[] = [];
    const n = ring.events.length;
    // newest first: the slot before `next` (wrapping), back to `next`
    for (let k = 1; k <= n && out.length < limit; k++) {
      const e = ring.events[(ring.next - k + n) % n]!;
      if (e.at < oldest) break;
      out.push(e);
    }
    return out;
  }

  async close(): Promise<void> {
    this.byTerminal.clear();
  }
}
