import type { Protocol } from '../../protocol/frames.js';

/**
 * What the engine reports; the http adapter maps it onto prom-client (`pcm_*` names).
 * Kept as an interface so the core stays free of I/O libraries (DESIGN.md section 7).
 */
export interface EngineMetrics {
  /** A new message was stored (idempotent replays are not counted again). */
  accepted(): void;
  /** A message frame was written to a connection; `latencyMs` = now - createdAt (send to deliver). */
  delivered(protocol: Protocol, latencyMs: number): void;
  /** Messages covered by an ack that moved the cursor. */
  acked(count: number): void;
  /**
   * Messages the engine found expired and did not deliver: a `ttlSeconds: 0` message with no
   * connected terminal or dropped on close, or a stored message whose TTL passed before the
   * engine could write it. Messages that expire unseen in the store are not counted.
   */
  expired(count: number): void;
  sessionOpened(protocol: Protocol): void;
  sessionClosed(protocol: Protocol): void;
  /** A terminal frame rejected with an error frame (code = PCM_ERR_*). */
  frameRejected(code: string): void;
  /** The resync sweep found a session behind the store's counter and pumped it (a relay event was lost or late). */
  resynced?(): void;
  /** A terminal's connect was refused by flapping detection (`flagged`: this refusal started a penalty). */
  flapRefused?(flagged: boolean): void;
  /** A send or request refused because its terminal's queue is full (PCM_ERR_QUEUE_FULL). */
  queueFull?(): void;
  /** Pending messages an admin purge acked on their terminal's behalf. */
  purged?(count: number): void;
}

export const noopMetrics: EngineMetrics = {
  accepted() {},
  delivered() {},
  acked() {},
  expired() {},
  sessionOpened() {},
  sessionClosed() {},
  frameRejected() {},
};
