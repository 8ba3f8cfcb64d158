import type { FastifyInstance } from 'fastify';
import { PcmError } from '../../../common/errors.js';
import { assertTerminalId } from '../../../protocol/terminal-id.js';
import { assertJsonDepth } from '../../../protocol/codec.js';
import type { DeliveryEngine } from '../../core/engine.js';
import { apiKeyAuth } from './api-key.js';
import { MAX_REQUEST_TIMEOUT_MS, PresenceResponse, RequestBody, RequestResponse, SendResponse, TerminalParams, sendBodyFor } from './schemas.js';

export interface SenderRouteOptions {
  engine: DeliveryEngine;
  apiKeys: readonly string[];
  maxPayloadBytes: number;
  maxTtlSeconds: number;
  defaultTtlSeconds: number;
  requestTimeoutMs: number;
}

export { MAX_REQUEST_TIMEOUT_MS };

export function checkTtl(raw: unknown, max: number, dflt: number): number {
  if (raw === undefined) return dflt;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 0 || raw > max) {
    throw new PcmError('PCM_ERR_INVALID_TTL', `ttlSeconds must be an integer between 0 and ${max}, got ${JSON.stringify(raw)}`);
  }
  return raw;
}

function checkTimeout(raw: unknown, dflt: number): number {
  if (raw === undefined) return dflt;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 1 || raw > MAX_REQUEST_TIMEOUT_MS) {
    throw new PcmError('PCM_ERR_BAD_REQUEST', `timeoutMs must be an integer between 1 and ${MAX_REQUEST_TIMEOUT_MS}, got ${JSON.stringify(raw)}`);
  }
  return raw;
}

/** The payload as stored: its JSON text, measured in bytes against PCM_MAX_PAYLOAD_BYTES. */
export function encodePayload(payload: unknown, max: number): string {
  if (payload === undefined) throw new PcmError('PCM_ERR_BAD_REQUEST', 'payload is required');
  assertJsonDepth(payload); // hostile nesting would overflow JSON.stringify (issue 8)
  const text = JSON.stringify(payload);
  const size = Buffer.byteLength(text);
  if (size > max) throw new PcmError('PCM_ERR_PAYLOAD_TOO_LARGE', `payload of ${size} bytes exceeds the limit of ${max} bytes`);
  return text;
}

/**
 * The sender API (DESIGN.md section 5). Order of checks: API key (401), rate limit per key
 * (429, the app-wide @fastify/rate-limit hook keyed by API key), body schema (400), terminal id (400), ttl (400), payload size (413), store (503).
 */
export function registerSenderRoutes(app: FastifyInstance, opts: SenderRouteOptions): void {
  const { engine } = opts;
  const auth = apiKeyAuth(opts.apiKeys);
  const sendBody = sendBodyFor(opts.maxTtlSeconds);

  app.post(
    '/v1/terminals/:id/messages',
    {
      onRequest: auth,
      schema: { params: TerminalParams, body: sendBody, response: { 202: SendResponse } },
    },
    async (req, reply) => {
      const terminalId = assertTerminalId((req.params as { id: string }).id);
      const body = req.body as { payload: unknown; ttlSeconds?: unknown; collapseKey?: string; idempotencyKey?: string };
      const ttlSeconds = checkTtl(body.ttlSeconds, opts.maxTtlSeconds, opts.defaultTtlSeconds);
      const payload = encodePayload(body.payload, opts.maxPayloadBytes);
      const result = await engine.submit({ terminalId, payload, ttlSeconds, collapseKey: body.collapseKey, idempotencyKey: body.idempotencyKey });
      req.log.debug({ terminalId, seq: result.seq, status: result.status }, 'message accepted');
      return reply.status(202).send(result);
    },
  );

  app.post(
    '/v1/terminals/:id/requests',
    {
      onRequest: auth,
      schema: { params: TerminalParams, body: RequestBody, response: { 200: RequestResponse } },
    },
    async (req) => {
      const terminalId = assertTerminalId((req.params as { id: string }).id);
      const body = req.body as { payload: unknown; timeoutMs?: unknown };
      const timeoutMs = checkTimeout(body.timeoutMs, opts.requestTimeoutMs);
      const payload = encodePayload(body.payload, opts.maxPayloadBytes);
      return engine.request(terminalId, payload, timeoutMs);
    },
  );

  app.get(
    '/v1/terminals/:id',
    { onRequest: auth, schema: { params: TerminalParams, response: { 200: PresenceResponse } } },
    async (req) => engine.presence(assertTerminalId((req.params as { id: string }).id)),
  );
}
