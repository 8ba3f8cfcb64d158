import { pino, type LoggerOptions } from 'pino';

/**
 * Secrets never reach the logs (issue 8, docs/security.md). pino's `redact` replaces these
 * paths (top level and one level down) with `[redacted]`; URL strings get their
 * `access_token` query value scrubbed by the `url` and `req` serializers, because a WebSocket
 * terminal may send its JWT as `?access_token=` (DESIGN.md section 5).
 */
const SECRET_KEYS = [
  'authorization',
  'cookie',
  'password',
  'token',
  'accessToken',
  'access_token',
  'apiKey',
  'apiKeys',
  'adminKeys',
  'secret',
  'terminalJwtSecret',
  'couchbasePassword',
];

export const REDACT_PATHS: readonly string[] = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => `*.${k}`),
  'req.headers.authorization',
  'req.headers.cookie',
  'request.headers.authorization',
  'headers.authorization',
  'headers.cookie',
  'config.apiKeys',
  'config.adminKeys',
  'config.terminalJwtSecret',
];

export const REDACTED = '[redacted]';

/** Replaces the value of secret-bearing query parameters in a URL or path. */
export function scrubUrl(url: unknown): unknown {
  if (typeof url !== 'string') return url;
  return url.replace(/([?&](?:access_token|token|api_key|apikey|password)=)[^&#\s]*/gi, `$1${REDACTED}`);
}

function reqSerializer(req: Parameters<typeof pino.stdSerializers.req>[0]): unknown {
  const out = pino.stdSerializers.req(req) as unknown as Record<string, unknown>;
  if (!out || typeof out !== 'object') return out;
  const headers = out.headers as Record<string, unknown> | undefined;
  const copy: Record<string, unknown> = { ...out, url: scrubUrl(out.url) };
  if (headers) {
    copy.headers = { ...headers };
    for (const h of ['authorization', 'cookie', 'proxy-authorization']) if (h in headers) (copy.headers as Record<string, unknown>)[h] = REDACTED;
  }
  return copy;
}

/** Logger options every PCM process starts with (common/logger.ts applies them). */
export const redactionOptions: Pick<LoggerOptions, 'redact' | 'serializers'> = {
  redact: { paths: [...REDACT_PATHS], censor: REDACTED },
  serializers: { req: reqSerializer, url: scrubUrl, err: pino.stdSerializers.err },
};
