import type { FastifyInstance } from 'fastify';
import type { GatewayAppConfig } from '../app.js';
import type { DeliveryEngine } from '../core/engine.js';
import type { Timeline } from '../ports/timeline.js';
import type { GatewayMetrics } from '../adapters/http/metrics.js';
import type { SessionIndex } from './session-index.js';
import { adoptMetrics, type ObservedPorts } from './observed-ports.js';
import { pendingGauge } from './event-metrics.js';
import { apiKeyAuth } from '../adapters/http/api-key.js';
import { registerOpenApi } from '../adapters/http/openapi.js';
import { registerEventsRoutes } from '../adapters/http/events-routes.js';
import { registerAdminRoutes } from '../adapters/http/mission-control/admin-routes.js';
import { registerMissionControlPage } from '../adapters/http/mission-control/page-routes.js';
import { PCM_VERSION } from './version.js';

export interface ObservabilityDeps {
  config: Readonly<GatewayAppConfig>;
  engine: DeliveryEngine;
  timeline: Timeline;
  sessionIndex: SessionIndex;
  metrics: GatewayMetrics;
  /** Store/relay decorators and event metrics (gateway/observability/observed-ports.ts). */
  observed?: ObservedPorts;
}

/**
 * Everything issue 9 adds to a gateway's HTTP port, in one call from app.ts: the OpenAPI
 * document (first, so it sees every later route), the timeline API for senders, Mission
 * Control's page and its admin API.
 */
export async function registerObservability(app: FastifyInstance, d: ObservabilityDeps): Promise<void> {
  if (d.observed) {
    adoptMetrics(d.metrics.registry, d.observed.registry);
    pendingGauge(d.metrics.registry, d.observed.store, d.sessionIndex);
  }
  await registerOpenApi(app, {
    title: 'PCM gateway',
    version: PCM_VERSION,
    description: 'Sender API, terminal edges, health and Mission Control admin API of a PCM gateway (DESIGN.md section 5).',
  });
  registerEventsRoutes(app, { timeline: d.timeline, auth: apiKeyAuth(d.config.apiKeys) });
  registerAdminRoutes(app, {
    gatewayId: d.config.gatewayId,
    adminKeys: d.config.adminKeys ?? [],
    engine: d.engine,
    timeline: d.timeline,
    index: d.sessionIndex,
    registry: d.metrics.registry,
    maxPayloadBytes: d.config.maxPayloadBytes,
    defaultTtlSeconds: d.config.defaultTtlSeconds,
    requestTimeoutMs: d.config.requestTimeoutMs,
  });
  registerMissionControlPage(app);
}
