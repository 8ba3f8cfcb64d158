import type { StoredMessage } from './message-store.js';

/**
 * RelayBus port (DESIGN.md sections 2.7 and 3): an accelerator between gateways, never the
 * source of truth. Addressed sends reach one gateway only; broadcast is the fallback for
 * an unknown owner and for control events. Losing an event delays, never loses, a message.
 */
export type RelayEvent =
  /** A stored message for a terminal believed to be connected to the target gateway. */
  | { kind: 'deliver'; from: string; message: StoredMessage; epoch: string }
  /** A terminal's reply to a request that entered through gateway `to`. */
  | { kind: 'reply'; from: string; correlationId: string; terminalId: string; payload: unknown }
  /** The terminal connected elsewhere with a higher connection epoch: close older sessions. */
  | { kind: 'takeover'; from: string; terminalId: string; connectionEpoch: number }
  /** Control: ask a gateway to re-check the store for a terminal (resync). */
  | { kind: 'resync'; from: string; terminalId: string };

export type RelayHandler = (event: RelayEvent) => void;

export interface RelayBus {
  readonly kind: string;
  /** Starts consuming events addressed to `gatewayId` and broadcasts. */
  start(gatewayId: string, handler: RelayHandler): Promise<void>;
  send(toGatewayId: string, event: RelayEvent): Promise<void>;
  broadcast(event: RelayEvent): Promise<void>;
  close(): Promise<void>;
}
