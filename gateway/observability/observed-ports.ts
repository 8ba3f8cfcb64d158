import { Registry } from 'prom-client';
import type { MessageStore } from '../ports/message-store.js';
import type { RelayBus } from '../ports/relay-bus.js';
import { instrumentStore } from './instrumented-store.js';
import { instrumentRelay } from './instrumented-relay.js';
import { EventMetrics } from './event-metrics.js';

export interface ObservedPorts {
  store: MessageStore;
  relay: RelayBus;
  eventMetrics: EventMetrics;
  /** Holds the decorators' metrics until registerObservability moves them to the gateway's registry. */
  registry: Registry;
}

/**
 * Wraps the store and relay in their metric decorators before the engine sees them. The
 * gateway's own registry does not exist yet at that point (it needs the engine), hence the
 * staging registry.
 */
export function observePorts(store: MessageStore, relay: RelayBus): ObservedPorts {
  const registry = new Registry();
  return { store: instrumentStore(store, registry), relay: instrumentRelay(relay, registry), eventMetrics: new EventMetrics(registry), registry };
}

export function adoptMetrics(target: Registry, staging: Registry): void {
  // getMetricsAsArray returns the metric instances themselves (typed as plain objects).
  for (const m of staging.getMetricsAsArray()) target.registerMetric(m as unknown as Parameters<Registry["registerMetric"]>[0]);
}
