import type { TerminalEvent, TerminalEventSink } from '../ports/timeline.js';

export interface LocalSessionView {
  terminalId: string;
  protocol?: string;
  connectedAt: number;
}

/**
 * Mission Control's terminal search over this gateway's sessions, kept from the engine's
 * timeline events (connected/disconnected) so the engine needs no extra query surface.
 * Forwards every event to the next sinks (the timeline).
 */
export class SessionIndex implements TerminalEventSink {
  private readonly live = new Map<string, LocalSessionView>();

  constructor(private readonly next: TerminalEventSink[] = []) {}

  record(e: TerminalEvent): void {
    if (e.type === 'connected') this.live.set(e.terminalId, { terminalId: e.terminalId, protocol: e.protocol, connectedAt: e.at });
    else if (e.type === 'disconnected') {
      const cur = this.live.get(e.terminalId);
      // A same-gateway takeover ends the old session before the new one is ready; only drop
      // the entry when it belongs to a session that connected no later than this one ended.
      if (cur && cur.connectedAt <= e.at) this.live.delete(e.terminalId);
    }
    for (const n of this.next) n.record(e);
  }

  /** Sorted by id, at most `limit`; an empty prefix lists the first `limit`. */
  search(prefix: string, limit: number): LocalSessionView[] {
    const out: LocalSessionView[] = [];
    for (const v of this.live.values()) if (v.terminalId.startsWith(prefix)) out.push(v);
    out.sort((a, b) => (a.terminalId < b.terminalId ? -1 : a.terminalId > b.terminalId ? 1 : 0));
    return out.slice(0, limit);
  }

  size(): number {
    return this.live.size;
  }
}
