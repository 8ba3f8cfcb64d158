import { PcmError } from '../../../common/errors.js';
import { createLogger, type Logger } from '../../../common/logger.js';
import type { RelayBus, RelayBusStats, RelayEvent, RelayHandler } from '../../ports/relay-bus.js';

/**
 * In-process RelayBus (DESIGN.md sections 1 and 3): the embedded default, for `pcm dev` and
 * for tests that run several gateway instances in one process. A hub stands in for the
 * broker: every gateway's bus joins the hub under its gateway id.
 *
 * Semantics match the Kafka adapter (both pass test/contract/relay-bus.contract.ts):
 * - addressed sends reach only the target gateway (cost O(1) in the number of gateways);
 * - broadcast reaches every started gateway except the sender;
 * - delivery is asynchronous (never inside the sender's call stack) and FIFO per target,
 *   so one sender's events reach a gateway in the order they were sent;
 * - an event for a gateway that is not started is dropped without an error: the relay is an
 *   accelerator and the store is the source of truth (invariant 2.7);
 * - events are copied (structuredClone) as if they crossed a wire, so neither side can
 *   mutate the other's object.
 */
export class InProcessRelayHub {
  private readonly members = new Map<string, Member>();
  private readonly consumedTotals = new Map<string, number>();
  /** Events addressed to a gateway that was not started on this hub (dropped, by design). */
  droppedUnknownTarget = 0;

  /** A new, not yet started bus attached to this hub (one per gateway instance). */
  bus(options: InProcessRelayOptions = {}): InProcessRelayBus {
    return new InProcessRelayBus(this, options);
  }

  /** Gateway ids currently started on this hub. */
  gateways(): string[] {
    return [...this.members.keys()];
  }

  /** Started gateways on this hub other than `gatewayId`. */
  peersOf(gatewayId: string | undefined): number {
    return this.members.size - (gatewayId !== undefined && this.members.has(gatewayId) ? 1 : 0);
  }

  /** Events handed to `gatewayId`'s handler since the hub was created (survives that gateway's restarts). */
  consumed(gatewayId: string): number {
    return this.consumedTotals.get(gatewayId) ?? 0;
  }

  /** @internal used by InProcessRelayBus */
  join(member: Member): void {
    if (this.members.has(member.gatewayId)) {
      throw new PcmError('PCM_ERR_CONFIG', `relay: gateway id "${member.gatewayId}" is already started on this in-process hub`, {
        details: { gatewayId: member.gatewayId },
      });
    }
    this.members.set(member.gatewayId, member);
  }

  /** @internal */
  leave(member: Member): void {
    if (this.members.get(member.gatewayId) === member) this.members.delete(member.gatewayId);
  }

  /** @internal returns false when no such gateway is started. */
  deliver(toGatewayId: string, event: RelayEvent): boolean {
    const target = this.members.get(toGatewayId);
    if (!target) {
      this.droppedUnknownTarget++;
      return false;
    }
    target.enqueue(structuredClone(event), 'addressed');
    return true;
  }

  /** @internal returns the number of gateways the event was queued for. */
  deliverAll(fromGatewayId: string, event: RelayEvent): number {
    let n = 0;
    for (const m of this.members.values()) {
      if (m.gatewayId === fromGatewayId) continue;
      m.enqueue(structuredClone(event), 'broadcast');
      n++;
    }
    return n;
  }

  /** @internal */
  countConsumed(gatewayId: string): void {
    this.consumedTotals.set(gatewayId, (this.consumedTotals.get(gatewayId) ?? 0) + 1);
  }
}

export interface InProcessRelayOptions {
  logger?: Logger;
}

type Channel = 'addressed' | 'broadcast';

/**
 * One gateway's membership in the hub: a FIFO queue drained in a later macrotask
 * (setImmediate), so a burst of sends never runs handlers re-entrantly and I/O is not starved.
 */
class Member {
  private queue: Array<{ event: RelayEvent; channel: Channel }> = [];
  private scheduled = false;
  closed = false;

  constructor(
    readonly gatewayId: string,
    private readonly handler: RelayHandler,
    private readonly onConsumed: (channel: Channel) => void,
    private readonly onHandlerError: (err: unknown, event: RelayEvent) => void,
  ) {}

  enqueue(event: RelayEvent, channel: Channel): void {
    if (this.closed) return;
    this.queue.push({ event, channel });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    for (const { event, channel } of batch) {
      // close() stops delivery at once, even for events already queued.
      if (this.closed) return;
      this.onConsumed(channel);
      try {
        this.handler(event);
      } catch (err) {
        this.onHandlerError(err, event);
      }
    }
  }

  close(): void {
    this.closed = true;
    this.queue = [];
  }
}

export class InProcessRelayBus implements RelayBus {
  readonly kind = 'inprocess';
  private member: Member | undefined;
  private gatewayId: string | undefined;
  private closed = false;
  private readonly log: Logger;
  private readonly counters: RelayBusStats = { consumed: 0, consumedAddressed: 0, consumedBroadcast: 0, sent: 0, broadcast: 0, errors: 0 };

  constructor(
    private readonly hub: InProcessRelayHub,
    options: InProcessRelayOptions = {},
  ) {
    this.log = (options.logger ?? defaultLogger()).child({ relay: 'inprocess' });
  }

  async start(gatewayId: string, handler: RelayHandler): Promise<void> {
    if (this.closed) throw new PcmError('PCM_ERR_NOT_READY', 'relay: this bus was closed; create a new one');
    if (this.member) throw new PcmError('PCM_ERR_CONFIG', `relay: bus already started as gateway "${this.gatewayId}"`);
    if (!gatewayId) throw new PcmError('PCM_ERR_CONFIG', 'relay: gatewayId must be a non-empty string');
    const member = new Member(
      gatewayId,
      handler,
      (channel) => {
        this.counters.consumed++;
        if (channel === 'addressed') this.counters.consumedAddressed++;
        else this.counters.consumedBroadcast++;
        this.hub.countConsumed(gatewayId);
      },
      (err, event) => {
        this.counters.errors++;
        this.log.error({ err, kind: event.kind, from: event.from }, 'relay handler threw; event dropped (the store still has the message)');
      },
    );
    this.hub.join(member);
    this.member = member;
    this.gatewayId = gatewayId;
  }

  async send(toGatewayId: string, event: RelayEvent): Promise<void> {
    this.checkStarted();
    this.counters.sent++;
    if (!this.hub.deliver(toGatewayId, event)) {
      // Not an error (invariant 2.7): the owner restarted or the directory is stale; the
      // terminal's next connect drains the store.
      this.log.debug({ toGatewayId, kind: event.kind }, 'relay: no such gateway on this hub; event dropped');
    }
  }

  async broadcast(event: RelayEvent): Promise<void> {
    this.checkStarted();
    this.counters.broadcast++;
    this.hub.deliverAll(this.gatewayId!, event);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.member) {
      this.member.close();
      this.hub.leave(this.member);
    }
  }

  /** Other gateways started on the same hub (0 for `pcm dev`'s single gateway). */
  reachablePeers(): number {
    return this.hub.peersOf(this.gatewayId);
  }

  stats(): RelayBusStats {
    return { ...this.counters };
  }

  private checkStarted(): void {
    if (this.closed) throw new PcmError('PCM_ERR_NOT_READY', 'relay: bus is closed');
    if (!this.member) throw new PcmError('PCM_ERR_NOT_READY', 'relay: bus is not started (call start(gatewayId, handler) first)');
  }
}

let sharedLogger: Logger | undefined;
function defaultLogger(): Logger {
  return (sharedLogger ??= createLogger('gateway', 'warn'));
}

/** The process-wide hub `pcm dev` uses when no hub is passed: every gateway started in this process shares it. */
export const defaultRelayHub = new InProcessRelayHub();

/** Convenience for wiring code: a bus on the given hub (default: the process-wide one). */
export function createInProcessRelayBus(options: InProcessRelayOptions & { hub?: InProcessRelayHub } = {}): InProcessRelayBus {
  return (options.hub ?? defaultRelayHub).bus(options);
}
