import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { lazyChildLoggerFactory } from '../common/lazy-child-logger.js';
import websocket from '@fastify/websocket';
import rateLimit from '@fastify/rate-limit';
import type { AddressInfo } from 'node:net';
import { PcmError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../protocol/codec.js';
import type { Clock } from '../common/clock.js';
import type { GatewayConfig } from './config.js';
import { DeliveryEngine } from './core/engine.js';
import { ConnectBucket } from './core/admission.js';
import type { MessageStore } from './ports/message-store.js';
import type { RelayBus } from './ports/relay-bus.js';
import type { SessionDirectory } from './ports/session-directory.js';
import { MAX_PARAM_LENGTH, frameworkErrors, installErrorHandler } from './adapters/http/errors.js';
import { registerHealthRoutes } from './adapters/http/health-routes.js';
import { GatewayMetrics } from './adapters/http/metrics.js';
import { registerSenderRoutes } from './adapters/http/sender-routes.js';
import { registerFanoutRoutes } from './adapters/http/fanout-routes.js';
import { registerWsRoute } from './adapters/ws/ws-route.js';
import { MqttEdge } from './adapters/mqtt/mqtt-edge.js';
import { MqttsListener } from './security/mqtts.js';
import type { TlsMaterial } from './security/tls.js';
import type { Timeline } from './ports/timeline.js';
import { createTimeline } from './observability/timeline-factory.js';
import { SessionIndex } from './observability/session-index.js';
import { registerObservability } from './observability/register.js';
import { observePorts } from './observability/observed-ports.js';
import type { GatewaySnapshot, GatewaySource } from '../discovery/sources/source.js';

export type GatewayAppConfig = Pick<
  GatewayConfig,
  | 'gatewayId'
  | 'host'
  | 'httpPort'
  | 'mqttPort'
  | 'terminalJwtSecret'
  | 'apiKeys'
  | 'maxSessions'
  | 'maxPayloadBytes'
  | 'maxTtlSeconds'
  | 'defaultTtlSeconds'
  | 'heartbeatSeconds'
  | 'rateLimitPerMinute'
  | 'requestTimeoutMs'
  | 'deliveryWindow'
  | 'drainReconnectAfterMs'
> &
  Partial<Pick<GatewayConfig, 'adminKeys' | 'maxPendingPerTerminal' | 'timeline' | 'timelineMaxEvents' | 'timelineTtlSeconds' | 'dataDir' | 'resyncSeconds' | 'drainSeconds' | 'drainRate' | 'maxConnectsPerSecond' | 'flapMaxConnects' | 'flapWindowSeconds' | 'flapPenaltySeconds' | 'flapMaxPenaltySeconds' | 'mqttTlsPort' | 'httpHeadersTimeoutMs' | 'httpRequestTimeoutMs' | 'httpKeepAliveTimeoutMs'>>;

export interface BuildGatewayOptions {
  config: Readonly<GatewayAppConfig>;
  /** The gateway owns these from now on: they are closed in onClose. */
  store: MessageStore;
  directory: SessionDirectory;
  relay: RelayBus;
  logger: Logger;
  clock?: Clock;
  /** Off turns the MQTT edge (TCP and /mqtt) off, e.g. for WebSocket-only tests. Default on. */
  mqtt?: boolean;
  /** Register process-level default metrics (once per process: `pcm gateway`, `pcm dev`). */
  defaultMetrics?: boolean;
  /**
   * The fleet's gateway set (discovery/sources: file or kube, docs/operator.md): the gateway
   * drains itself when its own entry is marked `draining`. Owned: closed in onClose.
   */
  gatewaySource?: GatewaySource;
  /** TLS (gateway/security/tls.ts): the HTTP port serves HTTPS/wss and mqtts listens on mqttTlsPort. */
  tls?: TlsMaterial;
  /** Per-terminal timeline (issue 9); default from config (memory). Owned: closed in onClose. */
  timeline?: Timeline;
}

export interface Gateway {
  app: FastifyInstance;
  engine: DeliveryEngine;
  metrics: GatewayMetrics;
  timeline: Timeline;
  mqtt?: MqttEdge;
  /** Listens on config.host: HTTP on httpPort, MQTT on mqttPort (0 = ephemeral); returns the bound ports. */
  listen(): Promise<{ httpPort: number; mqttPort?: number; mqttTlsPort?: number }>;
  close(): Promise<void>;
}

/**
 * Builds the gateway (fastify's app/server split, DESIGN.md section 7): engine, sender API,
 * WebSocket edge and MQTT edge on one fastify instance. Nothing listens until `listen()`;
 * `close()` (= app.close()) drains sessions and releases every resource in order.
 */
export async function buildGateway(opts: BuildGatewayOptions): Promise<Gateway> {
  const { config, directory, logger } = opts;
  // Metric decorators around the ports (issue 9): the engine and the routes see only these.
  const observed = observePorts(opts.store, opts.relay);
  const { store, relay } = observed;
  // Frames carry a reply payload: room for the payload limit plus the envelope.
  const maxFrameBytes = Math.max(DEFAULT_MAX_FRAME_BYTES, config.maxPayloadBytes + 4096);
  let closing = false;
  let metricsRef: GatewayMetrics | undefined;
  const timeline = opts.timeline ?? createTimeline(config);
  const sessionIndex = new SessionIndex([timeline, observed.eventMetrics]);
  const engine: DeliveryEngine = new DeliveryEngine(
    {
      gatewayId: config.gatewayId,
      heartbeatSeconds: config.heartbeatSeconds,
      maxSessions: config.maxSessions,
      window: config.deliveryWindow,
      drainReconnectAfterMs: config.drainReconnectAfterMs,
      resyncIntervalMs: Math.round((config.resyncSeconds ?? 5) * 1000),
      maxPendingPerTerminal: config.maxPendingPerTerminal ?? 10_000,
      flapping: {
        limit: config.flapMaxConnects ?? 10,
        windowMs: Math.round((config.flapWindowSeconds ?? 60) * 1000),
        basePenaltyMs: Math.round((config.flapPenaltySeconds ?? 10) * 1000),
        maxPenaltyMs: Math.round(Math.max(config.flapPenaltySeconds ?? 10, config.flapMaxPenaltySeconds ?? 300) * 1000),
        // Bounded memory: one entry per recently connected terminal, at most the session cap.
        maxTerminals: Math.min(config.maxSessions, 200_000),
      },
    },
    {
      store,
      directory,
      relay,
      clock: opts.clock,
      events: sessionIndex,
      log: logger.child({ component: 'engine', gatewayId: config.gatewayId }),
      metrics: {
        accepted: () => metricsRef?.accepted(),
        delivered: (p, ms) => metricsRef?.delivered(p, ms),
        acked: (n) => metricsRef?.acked(n),
        expired: (n) => metricsRef?.expired(n),
        sessionOpened: (p) => metricsRef?.sessionOpened(p),
        sessionClosed: () => undefined,
        frameRejected: (c) => metricsRef?.frameRejected(c),
        resynced: () => metricsRef?.resynced(),
        flapRefused: (flagged) => metricsRef?.flapRefused(flagged),
        queueFull: () => metricsRef?.queueFull(),
        purged: (n) => metricsRef?.purged(n),
      },
    },
  );
  const metrics = new GatewayMetrics(() => engine.sessionCounts(), { defaultMetrics: opts.defaultMetrics, isDraining: () => engine.isDraining() });
  metricsRef = metrics;

  const app = Fastify({
    childLoggerFactory: lazyChildLoggerFactory as never, // no pino child per request until one logs
    loggerInstance: logger.child({ component: 'http', gatewayId: config.gatewayId }),
    // Per-request access logs are off: at thousands of sends per second they would dominate.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.maxPayloadBytes * 2 + 16 * 1024,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors, // router errors in the one error shape too (issue 8)
    forceCloseConnections: true,
    // Slow or stalled clients (slowloris, issue 8): headers and whole requests must arrive in time.
    requestTimeout: config.httpRequestTimeoutMs ?? 30_000,
    keepAliveTimeout: config.httpKeepAliveTimeoutMs ?? 72_000,
    ...(opts.tls ? { https: { ...opts.tls, ...slowClientLimits(config) } } : { http: slowClientLimits(config) }),
  }) as unknown as FastifyInstance; // pino's Logger vs FastifyBaseLogger generics: same object
  installErrorHandler(app, (code, url) => {
    if (url === '/v1/terminals/:id/messages' || url === '/v1/terminals/:id/requests' || url === '/v1/messages') metrics.rejected(code);
  });
  // One budget per API key across the sender API (DESIGN.md section 5: 429). Registered
  // globally so the routes share it; health, metrics and the terminal edges opt out.
  await app.register(rateLimit, {
    global: true,
    max: config.rateLimitPerMinute,
    timeWindow: 60_000,
    hook: 'preHandler',
    keyGenerator: (req) => req.apiKeyId ?? `ip:${req.ip}`,
    errorResponseBuilder: (_req, ctx) =>
      new PcmError('PCM_ERR_RATE_LIMITED', `rate limit of ${ctx.max} requests per minute for this API key exceeded; retry in ${ctx.after}`),
  });

  // OpenAPI collects routes as they are added, so it goes before any route (docs/observability.md).
  await registerObservability(app, { config, engine, timeline, sessionIndex, metrics, observed });

  const admission = new ConnectBucket(config.maxConnectsPerSecond ?? 2000, undefined, opts.clock, () => metrics.connectionRefused());
  let mqtt: MqttEdge | undefined;
  if (opts.mqtt !== false) {
    mqtt = await MqttEdge.create({ engine, admission, terminalJwtSecret: config.terminalJwtSecret, maxFrameBytes, logger: logger.child({ component: 'mqtt' }) });
  }

  await app.register(websocket, {
    options: { maxPayload: maxFrameBytes * 4, perMessageDeflate: false },
    // Shutdown order (DESIGN.md section 7): the engine drains every session first (drain
    // frames), then the remaining sockets (MQTT over WebSocket included) are closed.
    preClose: async function () {
      closing = true;
      await engine.close();
      await mqtt?.close();
      for (const client of app.websocketServer.clients) client.terminate();
    },
  });
  const sweeper = registerWsRoute(app, { engine, admission, terminalJwtSecret: config.terminalJwtSecret, heartbeatSeconds: config.heartbeatSeconds, maxFrameBytes, logger });
  if (mqtt) mqtt.registerWebSocketRoute(app);
  registerSenderRoutes(app, {
    engine,
    apiKeys: config.apiKeys,
    maxPayloadBytes: config.maxPayloadBytes,
    maxTtlSeconds: config.maxTtlSeconds,
    defaultTtlSeconds: config.defaultTtlSeconds,
    requestTimeoutMs: config.requestTimeoutMs,
  });
  registerFanoutRoutes(app, {
    engine,
    apiKeys: config.apiKeys,
    maxPayloadBytes: config.maxPayloadBytes,
    maxTtlSeconds: config.maxTtlSeconds,
    defaultTtlSeconds: config.defaultTtlSeconds,
  });
  registerHealthRoutes(app, { store, metrics, isClosing: () => closing, gatewayId: config.gatewayId, engine });

  const mqtts = mqtt && opts.tls ? new MqttsListener(mqtt.broker, opts.tls, mqtt.maxPacketBytes) : undefined;
  // Graceful scale-down (issue 6): follow our own `draining` flag in the operator's assignments.
  const source = opts.gatewaySource;
  const onSnapshot = (snap: GatewaySnapshot) => {
    const me = snap.gateways.find((g) => g.id === config.gatewayId);
    if (me?.draining && !engine.isDraining()) {
      logger.info({ gatewayId: config.gatewayId, generation: snap.generation }, 'marked draining in the assignments');
      engine.startDrain({ ratePerSecond: config.drainRate ?? 200, windowMs: (config.drainSeconds ?? 120) * 1000 });
    } else if (me && !me.draining && engine.isDraining()) {
      // A scale-up cancelled the scale-down before this gateway was removed: stay. The entry may
      // say `ready: false` meanwhile (a draining gateway's pod is not Ready); ending the drain is
      // what makes it Ready again. An entry that is gone is not a cancellation (being removed).
      logger.info({ gatewayId: config.gatewayId, generation: snap.generation }, 'no longer draining in the assignments');
      engine.cancelDrain();
    }
  };
  const unsubscribe = source?.subscribe(onSnapshot);
  app.addHook('onClose', async () => {
    unsubscribe?.();
    await source?.close().catch((err: unknown) => logger.warn({ err }, 'gateway source close failed'));
    sweeper.stop();
    await timeline.close().catch((err: unknown) => logger.warn({ err }, 'timeline close failed'));
    await mqtts?.close();
    await relay.close().catch((err: unknown) => logger.warn({ err }, 'relay close failed'));
    await directory.close().catch((err: unknown) => logger.warn({ err }, 'directory close failed'));
    await store.close().catch((err: unknown) => logger.warn({ err }, 'store close failed'));
  });

  await engine.start();
  if (source) void source.ready().then(() => onSnapshot(source.current()));

  return {
    app,
    engine,
    metrics,
    timeline,
    mqtt,
    async listen() {
      await app.listen({ host: config.host, port: config.httpPort });
      const httpPort = (app.server.address() as AddressInfo).port;
      const mqttPort = mqtt ? await mqtt.listen(config.host, config.mqttPort) : undefined;
      const mqttTlsPort = mqtts ? await mqtts.listen(config.host, config.mqttTlsPort ?? 8883) : undefined;
      return { httpPort, mqttPort, mqttTlsPort };
    },
    close: () => app.close(),
  };
}

/** Node http(s) server limits against slow clients (issue 8: slowloris closed by timeouts). */
function slowClientLimits(config: Readonly<GatewayAppConfig>): { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number } {
  const requestTimeout = config.httpRequestTimeoutMs ?? 30_000;
  const headersTimeout = Math.min(config.httpHeadersTimeoutMs ?? 10_000, requestTimeout);
  return { headersTimeout, requestTimeout, connectionsCheckingInterval: Math.min(1000, headersTimeout) };
}
