/**
 * Per-terminal timeline (issue 9): the recent events of one terminal, so support can answer
 * "did terminal X get message Y?" in seconds. Bounded twice: at most `maxPerTerminal` recent
 * events per terminal and none older than `ttlMs`. Best effort by design: the store remains
 * the source of truth for delivery (DESIGN.md invariant 2.7); a lost timeline event never
 * changes what a terminal receives.
 */
export type TerminalEventType =
  | 'connected'
  | 'disconnected'
  | 'sent'
  | 'delivered'
  | 'acked'
  | 'expired'
  | 'request'
  | 'reply';

export interface TerminalEvent {
  terminalId: string;
  type: TerminalEventType;
  /** Epoch milliseconds. */
  at: number;
  seq?: number;
  messageId?: string;
  protocol?: string;
  gatewayId?: string;
  /** Disconnect reason, drop reason. */
  reason?: string;
  correlationId?: string;
}

/** What the delivery engine calls (synchronous, must never throw into the delivery path). */
export interface TerminalEventSink {
  record(event: TerminalEvent): void;
}

export interface Timeline extends TerminalEventSink {
  /** Most recent first, at most `limit`, none older than the TTL. */
  recent(terminalId: string, limit?: number): Promise<TerminalEvent[]>;
  close(): Promise<void>;
}

export interface TimelineLimits {
  /** Recent events kept per terminal (default 200). */
  maxPerTerminal: number;
  /** Events older than this are dropped (default 24 h). */
  ttlMs: number;
}

export const DEFAULT_TIMELINE_LIMITS: TimelineLimits = { maxPerTerminal: 200, ttlMs: 24 * 3600 * 1000 };
