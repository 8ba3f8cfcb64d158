import type { FastifyInstance } from 'fastify';
import { PcmError } from '../../../common/errors.js';
import type { MessageStore } from '../../ports/message-store.js';
import type { GatewayMetrics } from './metrics.js';

/** Probes and scrapes are never rate limited. */
const NO_LIMIT = { config: { rateLimit: false } } as const;

/** `/healthz` (process alive), `/readyz` (store reachable, not closing), `/metrics` (Prometheus). */
export interface HealthEngine {
  isDraining(): boolean;
  sessionCount(): number;
}

export function registerHealthRoutes(
  app: FastifyInstance,
  opts: { store: MessageStore; metrics: GatewayMetrics; isClosing: () => boolean; gatewayId?: string; engine?: HealthEngine },
): void {
  app.get('/healthz', NO_LIMIT, async () => ({ status: 'ok' }));
  app.get('/readyz', NO_LIMIT, async () => {
    if (opts.isClosing()) throw new PcmError('PCM_ERR_NOT_READY', 'the gateway is shutting down');
    // A draining gateway leaves the Services' endpoints (docs/operator.md, "What a gateway does").
    if (opts.engine?.isDraining()) throw new PcmError('PCM_ERR_NOT_READY', `the gateway is draining (${opts.engine.sessionCount()} sessions left)`);
    try {
      await opts.store.ping();
    } catch (err) {
      throw new PcmError('PCM_ERR_STORE_UNAVAILABLE', `store ${opts.store.kind} is unreachable: ${(err as Error).message}`, { cause: err });
    }
    return { status: 'ready', store: opts.store.kind };
  });
  // For the operator and people: is this gateway draining, and is it empty yet? Counts only, no auth.
  app.get('/v1/gateway/status', NO_LIMIT, async () => {
    const sessions = opts.engine?.sessionCount() ?? 0;
    const draining = opts.engine?.isDraining() ?? false;
    return { gatewayId: opts.gatewayId, draining, sessions, drained: draining && sessions === 0 };
  });
  app.get('/metrics', NO_LIMIT, async (_req, reply) => {
    void reply.header('content-type', opts.metrics.registry.contentType);
    return opts.metrics.registry.metrics();
  });
}
