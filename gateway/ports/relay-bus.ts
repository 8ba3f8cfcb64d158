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

/**
 * Counters every adapter keeps (since start, per bus instance). `consumed` counts events handed
 * to this gateway's handler: the acceptance tests assert a bystander gateway consumed none of
 * another gateway's traffic (DESIGN.md section 3), the bench divides it by messages sent.
 */
export interface RelayBusStats {
  /** Events delivered to the handler, addressed + broadcast. */
  consumed: number;
  consumedAddressed: number;
  consumedBroadcast: number;
  /** Addressed events published by this bus. */
  sent: number;
  /** Broadcast events published by this bus. */
  broadcast: number;
  /** Events that could not be published or handled (relay is an accelerator: logged, counted, never fatal). */
  errors: number;
}

export interface RelayBus {
  readonly kind: string;
  /** Starts consuming events addressed to `gatewayId` and broadcasts. */
  start(gatewayId: string, handler: RelayHandler): Promise<void>;
  send(toGatewayId: string, event: RelayEvent): Promise<void>;
  broadcast(event: RelayEvent): Promise<void>;
  close(): Promise<void>;
  /** Optional (added after the first version of this port): counters for tests, metrics and benches. */
  stats?(): RelayBusStats;
  /**
   * Optional: how many other gateways this bus can reach right now, for an adapter that knows
   * (the in-process hub does; a broker does not, and leaves this out). 0 lets the engine skip
   * the directory lookup for a terminal not connected here: no relay event could reach its
   * owner anyway, and the message waits in the store either way (invariant 2.7).
   */
  reachablePeers?(): number;
}
