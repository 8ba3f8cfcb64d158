import type { FastifyError, FastifyInstance } from 'fastify';
import { PcmError, toPcmError } from '../../../common/errors.js';

/**
 * One error shape for every failure (DESIGN.md section 7): `{code, message}` with a stable
 * PCM_ERR_* code and the catalogue's HTTP status. fastify's own errors are mapped, never
 * passed through with their FST_* codes.
 */
export function toHttpError(err: unknown): PcmError {
  if (err instanceof PcmError) return err;
  const e = err as FastifyError;
  if (e.validation) return new PcmError('PCM_ERR_BAD_REQUEST', `invalid request: ${e.message}`);
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new PcmError('PCM_ERR_PAYLOAD_TOO_LARGE', 'request body is too large');
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    if (e.statusCode === 404) return new PcmError('PCM_ERR_NOT_FOUND', e.message);
    return new PcmError('PCM_ERR_BAD_REQUEST', e.message);
  }
  return toPcmError(err);
}

export function installErrorHandler(app: FastifyInstance, onRejected: (code: string, url: string | undefined) => void): void {
  app.setErrorHandler((err, req, reply) => {
    const e = toHttpError(err);
    if (e.status >= 500 && e.code !== 'PCM_ERR_STORE_UNAVAILABLE' && e.code !== 'PCM_ERR_NOT_READY' && e.code !== 'PCM_ERR_REQUEST_TIMEOUT') {
      req.log.error({ err }, 'request failed');
    } else {
      req.log.debug({ code: e.code }, e.message);
    }
    onRejected(e.code, req.routeOptions.url);
    void reply.status(e.status).send({ code: e.code, message: e.message });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ code: 'PCM_ERR_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });
}
