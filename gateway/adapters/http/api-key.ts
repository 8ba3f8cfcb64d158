import { hash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { PcmError } from '../../../common/errors.js';
import { bearer } from '../../../protocol/token.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Short, non-secret id of the caller's API key (rate-limit key, logs). */
    apiKeyId?: string;
  }
}

// One-shot hash (no Hash object per request): this runs on every sender API call. Hex, then
// decoded: Node 20's `hash(..., 'buffer')` took 2.5-3 us per call here against 1 us for both
// steps, and about 7 us in the `http` profile (docs/benchmarks.md).
const digest = (s: string): Buffer => Buffer.from(hash('sha256', s, 'hex'), 'hex');
const HASHED = /^sha256:([0-9a-fA-F]{64})$/;

/** `sha256:<hex>` form of a key, for configs that should not hold the key itself (docs/security.md). */
export function hashApiKey(key: string): string {
  return `sha256:${digest(key).toString('hex')}`;
}

/**
 * Turns the configured keys into SHA-256 digests. A key may be given in clear or already
 * hashed as `sha256:<64 hex>`; either way only the digest is kept past this call.
 */
export function apiKeyDigests(keys: readonly string[]): Buffer[] {
  return keys.map((k) => {
    const m = HASHED.exec(k.trim());
    return m ? Buffer.from(m[1]!, 'hex') : digest(k);
  });
}

/**
 * Sender authentication (DESIGN.md section 5): `Authorization: Bearer <api key>`. Only the
 * digests of the keys are held (a heap dump shows no key), the presented key is hashed and
 * compared with timingSafeEqual against every digest without stopping at the first match,
 * so neither the content nor the position of a key leaks through timing.
 */
export function apiKeyAuth(keys: readonly string[]): (req: FastifyRequest) => Promise<void> {
  const known = apiKeyDigests(keys).map((d) => ({ d, id: d.toString('hex').slice(0, 12) }));
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
