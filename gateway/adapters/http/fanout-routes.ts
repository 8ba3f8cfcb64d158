import type { FastifyInstance } from 'fastify';
import { PcmError, type ErrorCode } from '../../../common/errors.js';
import { assertTerminalId } from '../../../protocol/terminal-id.js';
import type { DeliveryEngine } from '../../core/engine.js';
import { apiKeyAuth } from './api-key.js';
import { FanoutBody, FanoutResponse, MAX_FANOUT_TERMINALS } from './schemas.js';
import { checkTtl, encodePayload } from './sender-routes.js';

export interface FanoutRouteOptions {
  engine: DeliveryEngine;
  apiKeys: readonly string[];
  maxPayloadBytes: number;
  maxTtlSeconds: number;
  defaultTtlSeconds: number;
}

type ItemResult = Awaited<ReturnType<DeliveryEngine['submit']>> | { terminalId: string; error: { code: ErrorCode; message: string } };

/**
 * Fleet fan-out (a compatible extension of DESIGN.md section 5, docs/sender-api.md):
 * `POST /v1/messages {terminalIds, payload, ...}` stores one copy per terminal, each with its
 * own seq, exactly as N single sends would, but in one request, and the copies share group
 * commits. The whole request is validated first: one bad terminal id, a duplicate id, a bad
 * TTL or an oversized payload is a 400/413 naming it, and nothing is stored. Then every copy
 * is appended; the answer says per terminal what happened:
 * 202 every copy stored; 207 some stored, some not (each failure carries its code);
 * 503 none stored. A sender that retries with the same idempotencyKey never duplicates.
 */
export function registerFanoutRoutes(app: FastifyInstance, opts: FanoutRouteOptions): void {
  const { engine } = opts;
  app.post(
    '/v1/messages',
    {
      onRequest: apiKeyAuth(opts.apiKeys),
      // the app-wide limit plus room for the id list (128 characters each, quoted)
      bodyLimit: opts.maxPayloadBytes * 2 + 16 * 1024 + MAX_FANOUT_TERMINALS * 140,
      schema: { body: FanoutBody, response: { 202: FanoutResponse, 207: FanoutResponse } } },
    async (req, reply) => {
      const body = req.body as { terminalIds: string[]; payload: unknown; ttlSeconds?: unknown; collapseKey?: string; idempotencyKey?: string };
      const seen = new Set<string>();
      body.terminalIds.forEach((raw, i) => {
        let id: string;
        try {
          id = assertTerminalId(raw);
        } catch (err) {
          throw new PcmError('PCM_ERR_INVALID_TERMINAL_ID', `terminalIds[${i}]: ${(err as Error).message}`);
        }
        if (seen.has(id)) throw new PcmError('PCM_ERR_BAD_REQUEST', `terminalIds[${i}]: ${JSON.stringify(id)} is listed twice`);
        seen.add(id);
      });
      const ttlSeconds = checkTtl(body.ttlSeconds, opts.maxTtlSeconds, opts.defaultTtlSeconds);
      const payload = encodePayload(body.payload, opts.maxPayloadBytes);
      const settled = await Promise.allSettled(
        body.terminalIds.map((terminalId) => engine.submit({ terminalId, payload, ttlSeconds, collapseKey: body.collapseKey, idempotencyKey: body.idempotencyKey })),
      );
      let failed = 0;
      let firstError: PcmError | undefined;
      const results: ItemResult[] = settled.map((s, i) => {
        if (s.status === 'fulfilled') return s.value;
        failed++;
        const e = s.reason instanceof PcmError ? s.reason : new PcmError('PCM_ERR_INTERNAL', 'message not stored', { cause: s.reason });
        firstError ??= e;
        return { terminalId: body.terminalIds[i]!, error: { code: e.code, message: e.message } };
      });
      if (failed === results.length) throw firstError!; // nothing stored: the plain error answer (503 for the store)
      req.log.debug({ terminals: results.length, failed }, 'fan-out accepted');
      return reply.status(failed === 0 ? 202 : 207).send({ accepted: results.length - failed, failed, results });
    },
  );
}
