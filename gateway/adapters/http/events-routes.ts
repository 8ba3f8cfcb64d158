import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { assertTerminalId } from '../../../protocol/terminal-id.js';
import type { Timeline } from '../../ports/timeline.js';
import { TerminalParams } from './schemas.js';

export const TerminalEventSchema = Type.Object({
  terminalId: Type.String(),
  type: Type.Union(['connected', 'disconnected', 'sent', 'delivered', 'acked', 'expired', 'request', 'reply'].map((t) => Type.Literal(t))),
  at: Type.Integer({ description: 'Epoch milliseconds.' }),
  seq: Type.Optional(Type.Integer()),
  messageId: Type.Optional(Type.String()),
  protocol: Type.Optional(Type.String()),
  gatewayId: Type.Optional(Type.String()),
  reason: Type.Optional(Type.String()),
  correlationId: Type.Optional(Type.String()),
});

export const EventsQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) });
export const EventsResponse = Type.Object({ terminalId: Type.String(), events: Type.Array(TerminalEventSchema) });

/**
 * `GET /v1/terminals/{id}/events` (issue 9): the terminal's recent timeline, newest first, as
 * recorded by this gateway's timeline (memory: this gateway's events; SQLite: survives restarts).
 */
export function registerEventsRoutes(app: FastifyInstance, opts: { timeline: Timeline; auth: (req: FastifyRequest) => Promise<void> }): void {
  app.get(
    '/v1/terminals/:id/events',
    { onRequest: opts.auth, schema: { summary: 'Recent events of one terminal (newest first)', params: TerminalParams, querystring: EventsQuery, response: { 200: EventsResponse } } },
    async (req) => {
      const terminalId = assertTerminalId((req.params as { id: string }).id);
      const limit = (req.query as { limit?: number }).limit ?? 100;
      return { terminalId, events: await opts.timeline.recent(terminalId, limit) };
    },
  );
}
