import { LRUCache } from 'lru-cache';
import { DEFAULT_TIMELINE_LIMITS, type TerminalEvent, type Timeline, type TimelineLimits } from '../../ports/timeline.js';
import { EventRing, StringTable } from './event-ring.js';

/**
 * In-memory timeline: one bounded ring per terminal, the terminals themselves in an LRU
 * (default 100,000) so a gateway that saw millions of terminals holds a bounded amount.
 * Events are packed into numbers as they are recorded (event-ring.ts): recording allocates
 * nothing, so a busy gateway's timeline does not feed the garbage collector.
 */
export class MemoryTimeline implements Timeline {
  private readonly limits: TimelineLimits;
  private readonly byTerminal: LRUCache<string, EventRing>;
  /** Protocols, gateway ids and reasons, shared by every terminal's ring. */
  private readonly strings = new StringTable();

  constructor(limits: Partial<TimelineLimits> & { maxTerminals?: number } = {}, private readonly now: () => number = Date.now) {
    this.limits = { ...DEFAULT_TIMELINE_LIMITS, ...limits };
    this.byTerminal = new LRUCache({ max: limits.maxTerminals ?? 100_000 });
  }

  record(event: TerminalEvent): void {
    let ring = this.byTerminal.get(event.terminalId);
    if (!ring) this.byTerminal.set(event.terminalId, (ring = new EventRing(this.limits.maxPerTerminal)));
    ring.push(event, this.strings);
  }

  async recent(terminalId: string, limit = this.limits.maxPerTerminal): Promise<TerminalEvent[]> {
    const ring = this.byTerminal.get(terminalId);
    if (!ring) return [];
    return ring.recent(terminalId, this.now() - this.limits.ttlMs, limit, this.strings);
  }

  async close(): Promise<void> {
    this.byTerminal.clear();
  }
}
