import Fastify, { LogController, type FastifyInstance, type FastifyError, type FastifyBaseLogger } from 'fastify';
import { lazyChildLoggerFactory } from '../../common/lazy-child-logger.js';
import { Type } from 'typebox';
import type { Logger } from '../../common/logger.js';
import { PcmError, toPcmError } from '../../common/errors.js';
import { bearer, verifyTerminalToken } from '../../protocol/token.js';
import { assertTerminalId } from '../../protocol/terminal-id.js';
import { MAX_UNREACHABLE_GATEWAYS, isValidGatewayId } from '../../protocol/gateway-id.js';
import { assignWithFailover } from '../core/assignment.js';
import type { GatewaySource } from '../sources/source.js';
import type { DiscoveryConfig } from '../config.js';
import { createDiscoveryMetrics } from './metrics.js';
import { registerOpenApiSync } from '../../gateway/adapters/http/openapi.js';
import { MAX_PARAM_LENGTH, frameworkErrors } from '../../gateway/adapters/http/errors.js';
import { PCM_VERSION } from '../../gateway/observability/version.js';

/** Body of a successful lookup (DESIGN.md section 5, "Discovery"). */
export interface DiscoveryResponse {
  terminalId: string;
  gatewayId: string;
  websocketUrl: string;
  mqttUrl: string;
  pollAfterSeconds: number;
  generation: number;
}

export interface BuildDiscoveryAppOptions {
  config: Pick<DiscoveryConfig, 'terminalJwtSecret' | 'discoveryPollSeconds'>;
  /** The app owns the source from now on: it is closed in onClose. */
  source: GatewaySource;
  logger: Logger;
  /** Register process-level default metrics (off in `pcm dev`, where the gateway registers them). */
  defaultMetrics?: boolean;
}


/** `?unreachable=gw-1,gw-2`: the gateways this terminal could not reach (docs/discovery.md, "Failover"). */
function parseUnreachable(raw: string | undefined): ReadonlySet<string> {
  if (raw === undefined || raw === '') return new Set();
  const ids = raw.split(',');
  if (ids.length > MAX_UNREACHABLE_GATEWAYS || !ids.every(isValidGatewayId)) {
    throw new PcmError('PCM_ERR_BAD_REQUEST', `unreachable must be at most ${MAX_UNREACHABLE_GATEWAYS} comma-separated gateway ids (letters, digits, '.', '_', '-'; at most 63 characters each)`);
  }
  return new Set(ids);
}

const OUTCOME: Record<string, string> = {
  PCM_ERR_UNAUTHORIZED: 'unauthorized',
  PCM_ERR_TOKEN_EXPIRED: 'unauthorized',
  PCM_ERR_FORBIDDEN: 'forbidden',
  PCM_ERR_INVALID_TERMINAL_ID: 'bad_request',
  PCM_ERR_BAD_REQUEST: 'bad_request',
  PCM_ERR_NO_GATEWAY: 'no_gateway',
};

/**
 * Builds (does not listen) the discovery fastify app: `GET /v1/discovery/:terminalId`
 * plus /healthz, /readyz, /metrics. fastify's app/server split (DESIGN.md section 7): the
 * caller listens, `app.close()` releases everything, including the source.
 *
 * Used by `pcm discovery` (discovery/main.ts) and by `pcm dev`, which runs it in the
 * gateway's process with `new StaticGatewaySource([{ id, websocketUrl, mqttUrl }])`.
 */
export function buildDiscoveryApp(opts: BuildDiscoveryAppOptions): FastifyInstance {
  const { config, source } = opts;
  const app = Fastify({
    childLoggerFactory: lazyChildLoggerFactory as never, // no pino child per request until one logs
    loggerInstance: opts.logger.child({ component: 'discovery' }) as FastifyBaseLogger,
    // Terminals poll constantly; per-request lines would drown the log. Failures are logged.
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors, // router errors in the one error shape too (issue 8)
  });
  const metrics = createDiscoveryMetrics(source, { defaultMetrics: opts.defaultMetrics });
  // /openapi.json + /docs (issue 9); registered before the routes it documents.
  void registerOpenApiSync(app, { title: 'PCM discovery', version: PCM_VERSION, description: 'Terminals ask which gateway is theirs (DESIGN.md section 5, Discovery).' });
  let closing = false;
  let ready = false;
  void source.ready().then(() => (ready = true));

  // One error shape for every failure: {code, message} with a stable PCM_ERR_* code.
  app.setErrorHandler((err: FastifyError | PcmError, req, reply) => {
    let e: PcmError;
    if (err instanceof PcmError) e = err;
    else if ((err as FastifyError).validation) e = new PcmError('PCM_ERR_BAD_REQUEST', err.message);
    else {
      req.log.error({ err }, 'discovery request failed');
      e = toPcmError(err);
    }
    if (req.routeOptions.url === '/v1/discovery/:terminalId') metrics.requests.inc({ outcome: OUTCOME[e.code] ?? 'error' });
    void reply.status(e.status).header('cache-control', 'no-store').send(e.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send(new PcmError('PCM_ERR_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`).toJSON());
  });

  app.get(
    '/v1/discovery/:terminalId',
    {
      schema: {
        summary: 'The gateway assigned to this terminal (terminal JWT as Bearer)',
        params: Type.Object({ terminalId: Type.String() }),
        querystring: Type.Object({
          unreachable: Type.Optional(
            Type.String({
              description: `Failover (an extension, docs/discovery.md): up to ${MAX_UNREACHABLE_GATEWAYS} comma-separated ids of gateways this terminal could not reach; the answer is the best assignable gateway not among them (the home gateway if every one is).`,
            }),
          ),
        }),
      },
    },
    async (req, reply): Promise<DiscoveryResponse> => {
      // Authenticate before looking at the path, so an unauthenticated caller learns nothing.
      const claims = await verifyTerminalToken(config.terminalJwtSecret, bearer(req.headers.authorization));
      const terminalId = assertTerminalId((req.params as { terminalId: string }).terminalId);
      // A terminal only ever sees its own assignment (DESIGN.md section 5, "Terminal identity").
      if (claims.terminalId !== terminalId) {
        throw new PcmError('PCM_ERR_FORBIDDEN', `token subject ${JSON.stringify(claims.terminalId)} may not look up terminal ${JSON.stringify(terminalId)}`);
      }
      const unreachable = parseUnreachable((req.query as { unreachable?: string }).unreachable);
      const snapshot = source.current();
      const { gateway: gw, home, failover } = assignWithFailover(terminalId, snapshot.gateways, unreachable);
      if (failover) metrics.failovers.inc({ gateway: home!.id });
      if (!gw) {
        throw new PcmError('PCM_ERR_NO_GATEWAY', `no gateway available (generation ${snapshot.generation}, ${snapshot.gateways.length} gateways, none assignable)`);
      }
      metrics.requests.inc({ outcome: 'ok' });
      // `private`: the answer is per-terminal and authenticated; shared caches must not keep it.
      void reply.header('cache-control', `private, max-age=${config.discoveryPollSeconds}`);
      return {
        terminalId,
        gatewayId: gw.id,
        websocketUrl: gw.websocketUrl,
        mqttUrl: gw.mqttUrl,
        pollAfterSeconds: config.discoveryPollSeconds,
        generation: snapshot.generation,
      };
    },
  );

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (closing || !ready) {
      return reply.status(503).send(new PcmError('PCM_ERR_NOT_READY', closing ? 'discovery is shutting down' : 'gateway set not loaded yet').toJSON());
    }
    const snap = source.current();
    return { status: 'ready', generation: snap.generation, gateways: snap.gateways.length };
  });
  app.get('/metrics', async (_req, reply) => {
    void reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onClose', async () => {
    await source.close();
  });
  return app;
}
