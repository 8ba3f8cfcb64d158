import { Counter, Histogram, type Registry } from 'prom-client';
import type { RelayBus } from '../ports/relay-bus.js';

/**
 * RelayBus decorator (issue 9): events out (addressed/broadcast) and in, by kind, publish
 * failures, and the lag of relayed `deliver` events (now - message createdAt when the owning
 * gateway receives it: store write + relay transit, DESIGN.md section 3). `stats()` and
 * `reachablePeers()` pass through unchanged.
 */
export function instrumentRelay(relay: RelayBus, registry: Registry, now: () => number = Date.now): RelayBus {
  const registers = [registry];
  const out = new Counter({ name: 'pcm_relay_events_out_total', help: 'Relay events published, by route (addressed, broadcast) and kind.', labelNames: ['route', 'kind'], registers });
  const inC = new Counter({ name: 'pcm_relay_events_in_total', help: 'Relay events received by this gateway (its own excluded), by kind.', labelNames: ['kind'], registers });
  const failed = new Counter({ name: 'pcm_relay_publish_errors_total', help: 'Relay publishes that failed (the message waits in the store: invariant 2.7).', labelNames: ['route'], registers });
  const lag = new Histogram({
    name: 'pcm_relay_deliver_lag_seconds',
    help: 'Age of a relayed deliver event on arrival at the owning gateway (now - message createdAt).',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  let self = '';
  const wrapped: RelayBus = {
    kind: relay.kind,
    start(gatewayId, handler) {
      self = gatewayId;
      return relay.start(gatewayId, (ev) => {
        if (ev.from !== self) {
          inC.inc({ kind: ev.kind });
          if (ev.kind === 'deliver') lag.observe(Math.max(0, now() - ev.message.createdAt) / 1000);
        }
        handler(ev);
      });
    },
    async send(to, ev) {
      try {
        await relay.send(to, ev);
        out.inc({ route: 'addressed', kind: ev.kind });
      } catch (err) {
        failed.inc({ route: 'addressed' });
        throw err;
      }
    },
    async broadcast(ev) {
      try {
        await relay.broadcast(ev);
        out.inc({ route: 'broadcast', kind: ev.kind });
      } catch (err) {
        failed.inc({ route: 'broadcast' });
        throw err;
      }
    },
    close: () => relay.close(),
  };
  if (relay.stats) wrapped.stats = () => relay.stats!();
  if (relay.reachablePeers) wrapped.reachablePeers = () => relay.reachablePeers!();
  return wrapped;
}
