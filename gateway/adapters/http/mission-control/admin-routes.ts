import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { Registry } from 'prom-client';
import { PcmError } from '../../../../common/errors.js';
import { assertTerminalId } from '../../../../protocol/terminal-id.js';
import { assertJsonDepth } from '../../../../protocol/codec.js';
import type { DeliveryEngine } from '../../../core/engine.js';
import type { Timeline } from '../../../ports/timeline.js';
import type { SessionIndex } from '../../../observability/session-index.js';
import { apiKeyAuth } from '../api-key.js';
import { EventsQuery, EventsResponse } from '../events-routes.js';
import { PresenceResponse, RequestResponse, SendResponse, TerminalParams } from '../schemas.js';

export interface AdminRouteOptions {
  gatewayId: string;
  adminKeys: readonly string[];
  engine: DeliveryEngine;
  timeline: Timeline;
  index: SessionIndex;
  registry: Registry;
  maxPayloadBytes: number;
  defaultTtlSeconds: number;
  requestTimeoutMs: number;
}

/** Counters the fleet summary reports; Mission Control turns two samples into rates. */
const FLEET_COUNTERS = ['pcm_messages_accepted_total', 'pcm_messages_delivered_total', 'pcm_messages_acked_total', 'pcm_messages_expired_total', 'pcm_messages_rejected_total'];

const FleetResponse = Type.Object({
  gatewayId: Type.String(),
  at: Type.Integer(),
  sessions: Type.Record(Type.String(), Type.Integer()),
  counters: Type.Record(Type.String(), Type.Number()),
});
const SearchQuery = Type.Object({ prefix: Type.Optional(Type.String({ maxLength: 200 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })) });
const SearchResponse = Type.Object({
  local: Type.Array(Type.Object({ terminalId: Type.String(), protocol: Type.Optional(Type.String()), connectedAt: Type.Integer() })),
  presence: Type.Optional(PresenceResponse),
});
const AdminSendBody = Type.Object({ payload: Type.Unknown(), ttlSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_419_200 })) });
const AdminRequestBody = Type.Object({ payload: Type.Unknown(), timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 60_000 })) });

const PurgeResponse = Type.Object({ terminalId: Type.String(), purged: Type.Integer(), lastAckedSeq: Type.Integer() });
const PendingQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })) });
const PendingResponse = Type.Object({
  terminalId: Type.String(),
  messages: Type.Array(
    Type.Object({
      seq: Type.Integer(),
      messageId: Type.String(),
      createdAt: Type.Integer(),
      expiresAt: Type.Integer(),
      payloadBytes: Type.Integer(),
      collapseKey: Type.Optional(Type.String()),
      correlationId: Type.Optional(Type.String()),
    }),
  ),
});

const security = [{ bearer: [] }];

/**
 * Mission Control's API (`/v1/admin/*`), behind PCM_ADMIN_KEYS (Bearer). Separate keys from
 * the sender API: an operator console may read any terminal's timeline, a sender may not need to.
 */
export function registerAdminRoutes(app: FastifyInstance, opts: AdminRouteOptions): void {
  const { engine } = opts;
  const auth = apiKeyAuth(opts.adminKeys);
  const payloadText = (payload: unknown): string => {
    if (payload === undefined) throw new PcmError('PCM_ERR_BAD_REQUEST', 'payload is required');
    assertJsonDepth(payload);
    const text = JSON.stringify(payload);
    if (Buffer.byteLength(text) > opts.maxPayloadBytes) throw new PcmError('PCM_ERR_PAYLOAD_TOO_LARGE', `payload exceeds ${opts.maxPayloadBytes} bytes`);
    return text;
  };

  app.get('/v1/admin/fleet', { onRequest: auth, schema: { summary: 'Fleet summary of this gateway (Mission Control)', security, response: { 200: FleetResponse } } }, async () => {
    const counters: Record<string, number> = {};
    for (const m of await opts.registry.getMetricsAsJSON()) {
      if (FLEET_COUNTERS.includes(m.name)) counters[m.name] = (m.values as { value: number }[]).reduce((a, v) => a + v.value, 0);
    }
    return { gatewayId: opts.gatewayId, at: Date.now(), sessions: engine.sessionCounts(), counters };
  });

  app.get('/v1/admin/terminals', { onRequest: auth, schema: { summary: 'Search terminals by id prefix (local sessions) plus presence of the exact id', security, querystring: SearchQuery, response: { 200: SearchResponse } } }, async (req) => {
    const q = req.query as { prefix?: string; limit?: number };
    const prefix = q.prefix ?? '';
    const local = opts.index.search(prefix, q.limit ?? 50);
    let presence;
    if (prefix.length > 0) {
      try {
        presence = await engine.presence(assertTerminalId(prefix));
      } catch (err) {
        if (!(err instanceof PcmError) || err.code === 'PCM_ERR_STORE_UNAVAILABLE') throw err; // not a valid id: prefix search only
      }
    }
    return { local, presence };
  });

  app.get('/v1/admin/terminals/:id', { onRequest: auth, schema: { summary: 'Presence and pending count (admin)', security, params: TerminalParams, response: { 200: PresenceResponse } } }, async (req) =>
    engine.presence(assertTerminalId((req.params as { id: string }).id)),
  );

  app.get('/v1/admin/terminals/:id/events', { onRequest: auth, schema: { summary: 'Terminal timeline (admin)', security, params: TerminalParams, querystring: EventsQuery, response: { 200: EventsResponse } } }, async (req) => {
    const terminalId = assertTerminalId((req.params as { id: string }).id);
    return { terminalId, events: await opts.timeline.recent(terminalId, (req.query as { limit?: number }).limit ?? 100) };
  });

  app.post('/v1/admin/terminals/:id/messages', { onRequest: auth, schema: { summary: 'Send a message (admin)', security, params: TerminalParams, body: AdminSendBody, response: { 202: SendResponse } } }, async (req, reply) => {
    const terminalId = assertTerminalId((req.params as { id: string }).id);
    const body = req.body as { payload: unknown; ttlSeconds?: number };
    const result = await engine.submit({ terminalId, payload: payloadText(body.payload), ttlSeconds: body.ttlSeconds ?? opts.defaultTtlSeconds });
    req.log.info({ terminalId, seq: result.seq, reqId: req.id }, 'mission control: message sent');
    return reply.status(202).send(result);
  });

  // Metadata only: payloads may carry cardholder or other sensitive data, and an operator console
  // does not need them to see what is stuck (docs/mission-control.md).
  app.get(
    '/v1/admin/terminals/:id/messages',
    { onRequest: auth, schema: { summary: 'The oldest pending messages of a terminal, without payloads (admin)', security, params: TerminalParams, querystring: PendingQuery, response: { 200: PendingResponse } } },
    async (req) => {
      const terminalId = assertTerminalId((req.params as { id: string }).id);
      const messages = await engine.peekPending(terminalId, (req.query as { limit?: number }).limit ?? 50);
      return {
        terminalId,
        messages: messages.map((m) => ({
          seq: m.seq,
          messageId: m.messageId,
          createdAt: m.createdAt,
          expiresAt: m.expiresAt,
          payloadBytes: Buffer.byteLength(m.payload),
          ...(m.collapseKey !== undefined ? { collapseKey: m.collapseKey } : {}),
          ...(m.correlationId !== undefined ? { correlationId: m.correlationId } : {}),
        })),
      };
    },
  );

  app.delete(
    '/v1/admin/terminals/:id/messages',
    {
      onRequest: auth,
      schema: {
        summary: 'Purge: ack every message pending for the terminal on its behalf, so none is delivered (admin)',
        security,
        params: TerminalParams,
        response: { 200: PurgeResponse },
      },
    },
    async (req) => {
      const terminalId = assertTerminalId((req.params as { id: string }).id);
      const result = await engine.purge(terminalId);
      req.log.warn({ terminalId, purged: result.purged, lastAckedSeq: result.lastAckedSeq, reqId: req.id }, 'mission control: pending messages purged');
      return result;
    },
  );

  app.post('/v1/admin/terminals/:id/requests', { onRequest: auth, schema: { summary: 'Ping: request/reply with the measured round trip (admin)', security, params: TerminalParams, body: AdminRequestBody, response: { 200: RequestResponse } } }, async (req) => {
    const terminalId = assertTerminalId((req.params as { id: string }).id);
    const body = req.body as { payload: unknown; timeoutMs?: number };
    return engine.request(terminalId, payloadText(body.payload), body.timeoutMs ?? opts.requestTimeoutMs);
  });
}
