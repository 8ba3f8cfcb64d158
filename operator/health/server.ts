import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OperatorMetrics } from './metrics.js';

/** What the probes ask the running operator (operator/controller/manager.ts). */
export interface HealthSource {
  /** False once the operator has stopped or leading failed in a way that needs a restart. */
  alive(): boolean;
  isLeader: boolean;
  /** Informers have listed everything (only meaningful while leading). */
  synced: boolean;
  /** PCMCluster count from the informer cache (0 when not leading). */
  clusterCount(): number;
}

/**
 * The health endpoint the chart probes (charts/pcm/templates/operator-deployment.yaml):
 * /healthz = process and informers alive; /readyz = caches synced, and a standby replica
 * (not leader) also answers ready so a rolling update of a 2-replica Deployment proceeds;
 * /metrics = Prometheus text. Plain node:http: three routes do not need fastify.
 */
export async function startHealthServer(source: HealthSource, metrics: OperatorMetrics, port: number, host = '0.0.0.0'): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'GET') return reply(405, 'method not allowed\n');
    if (path === '/healthz') return source.alive() ? reply(200, 'ok\n') : reply(503, 'operator stopped\n');
    if (path === '/readyz') {
      if (!source.alive()) return reply(503, 'operator stopped\n');
      if (!source.isLeader) return reply(200, 'ok (standby)\n');
      return source.synced ? reply(200, 'ok (leader)\n') : reply(503, 'informer caches not synced\n');
    }
    if (path === '/metrics') {
      metrics.leader.set(source.isLeader ? 1 : 0);
      metrics.resources.set({ kind: 'PCMCluster' }, source.isLeader ? source.clusterCount() : 0);
      metrics.registry.metrics().then(
        (text) => reply(200, text, metrics.registry.contentType),
        (err: unknown) => reply(500, `${(err as Error).message}\n`),
      );
      return;
    }
    reply(404, 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
