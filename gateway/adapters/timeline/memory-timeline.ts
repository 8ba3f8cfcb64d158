import { LRUCache } from 'lru-cache';
import { DEFAULT_TIMELINE_LIMITS, type TerminalEvent, type Timeline, type TimelineLimits } from '../../ports/timeline.js';

/**
 * In-memory timeline: one bounded array per terminal, the terminals themselves in an LRU
 * (default 100,000) so a gateway that saw millions of terminals holds a bounded amount.
 */
export class MemoryTimeline implements Timeline {
  private readonly limits: TimelineLimits;
  private readonly byTerminal: LRUCache<string, TerminalEvent[]>;

  constructor(limits: Partial<TimelineLimits> & { maxTerminals?: number } = {}, private readonly now: () => number = Date.now) {
    this.limits = { ...DEFAULT_TIMELINE_LIMITS, ...limits };
    this.byTerminal = new LRUCache({ max: limits.maxTerminals ?? 100_000 });
  }

  record(event: TerminalEvent): void {
    let list = this.byTerminal.get(event.terminalId);
    if (!list) this.byTerminal.set(event.terminalId, (list = []));
    list.push(event);
    if (list.length > this.limits.maxPerTerminal) list.splice(0, list.length - this.limits.maxPerTerminal);
  }

  async recent(terminalId: string, limit = this.limits.maxPerTerminal): Promise<TerminalEvent[]> {
    const list = this.byTerminal.get(terminalId) ?? [];
    const oldest = this.now() - this.limits.ttlMs;
    const out: TerminalEvent[] = [];
    for (let i = list.length - 1; i >= 0 && out.length < limit; i--) {
      if (list[i]!.at < oldest) break;
      out.push(list[i]!);
    }
    return out;
  }

  async close(): Promise<void> {
    this.byTerminal.clear();
  }
}
