import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { GatewaySource } from '../sources/source.js';
import { isAssignable } from '../core/assignment.js';

/**
 * Discovery's Prometheus metrics, on a registry of its own so several apps in one process
 * (`pcm dev`, tests) never collide on the global one.
 */
export function createDiscoveryMetrics(source: GatewaySource, opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'pcm_discovery_' });
  const requests = new Counter({
    name: 'pcm_discovery_requests_total',
    help: 'Discovery lookups by outcome (ok, unauthorized, forbidden, bad_request, no_gateway, error).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const failovers = new Counter({
    name: 'pcm_discovery_failovers_total',
    help: 'Lookups answered with another gateway because the terminal reported its own (label: the gateway it could not reach) unreachable. Rising for a gateway the operator counts Ready: terminals cannot reach it (network, load balancer, DNS).',
    labelNames: ['gateway'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'pcm_discovery_assignment_generation',
    help: 'Generation of the gateway set discovery assigns from.',
    registers: [registry],
    collect() {
      this.set(source.current().generation);
    },
  });
  new Gauge({
    name: 'pcm_discovery_gateways',
    help: 'Gateways in the current set, by state (assignable, draining, not_ready: held back by the operator until its pod is Ready).',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const gs = source.current().gateways;
      const assignable = gs.filter(isAssignable).length;
      const draining = gs.filter((g) => g.draining).length;
      this.set({ state: 'assignable' }, assignable);
      this.set({ state: 'draining' }, draining);
      this.set({ state: 'not_ready' }, gs.length - assignable - draining);
    },
  });
  return { registry, requests, failovers };
}
export type DiscoveryMetrics = ReturnType<typeof createDiscoveryMetrics>;
