import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { PcmError } from '../../../common/errors.js';
import { bearer } from '../../../protocol/token.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Short, non-secret id of the caller's API key (rate-limit key, logs). */
    apiKeyId?: string;
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Sender authentication (DESIGN.md section 5): `Authorization: Bearer <api key>`. Keys are
 * compared as SHA-256 digests with timingSafeEqual, so timing reveals nothing about them.
 */
export function apiKeyAuth(keys: readonly string[]): (req: FastifyRequest) => Promise<void> {
  const known = keys.map((k) => ({ d: digest(k), id: digest(k).toString('hex').slice(0, 12) }));
  return async (req) => {
    const key = bearer(req.headers.authorization);
    if (!key) throw new PcmError('PCM_ERR_UNAUTHORIZED', 'missing API key: send Authorization: Bearer <api key>');
    const d = digest(key);
    let id: string | undefined;
    for (const k of known) if (timingSafeEqual(k.d, d)) id = k.id;
    if (!id) throw new PcmError('PCM_ERR_UNAUTHORIZED', 'wrong API key');
    req.apiKeyId = id;
  };
}
