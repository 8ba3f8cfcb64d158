import type { FastifyInstance } from 'fastify';
import { PcmError } from '../../../common/errors.js';
import type { MessageStore } from '../../ports/message-store.js';
import type { GatewayMetrics } from './metrics.js';

/** Probes and scrapes are never rate limited. */
const NO_LIMIT = { config: { rateLimit: false } } as const;

/** `/healthz` (process alive), `/readyz` (store reachable, not closing), `/metrics` (Prometheus). */
export function registerHealthRoutes(app: FastifyInstance, opts: { store: MessageStore; metrics: GatewayMetrics; isClosing: () => boolean }): void {
  app.get('/healthz', NO_LIMIT, async () => ({ status: 'ok' }));
  app.get('/readyz', NO_LIMIT, async () => {
    if (opts.isClosing()) throw new PcmError('PCM_ERR_NOT_READY', 'the gateway is shutting down');
    try {
      await opts.store.ping();
    } catch (err) {
      throw new PcmError('PCM_ERR_STORE_UNAVAILABLE', `store ${opts.store.kind} is unreachable: ${(err as Error).message}`, { cause: err });
    }
    return { status: 'ready', store: opts.store.kind };
  });
  app.get('/metrics', NO_LIMIT, async (_req, reply) => {
    void reply.header('content-type', opts.metrics.registry.contentType);
    return opts.metrics.registry.metrics();
  });
}
