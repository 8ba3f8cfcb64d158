import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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

/** Longest path parameter the routers accept (a terminal id is at most 128 characters). */
export const MAX_PARAM_LENGTH = 200;

/**
 * fastify's `frameworkErrors` option: errors its router raises before any route, hook or error
 * handler runs (a malformed percent-encoding, FST_ERR_BAD_URL; a path parameter longer than
 * MAX_PARAM_LENGTH, FST_ERR_MAX_PARAM_LENGTH). Without it fastify answers these itself with
 * `{error, code: FST_*, statusCode}` (and 414 for the long parameter), outside the one error
 * shape and the contract's statuses; found by schemathesis (issue 8). Both are 400
 * PCM_ERR_BAD_REQUEST; the message does not echo the (hostile) path.
 */
export function frameworkErrors(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  const message =
    err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? `invalid request: a path parameter is longer than ${MAX_PARAM_LENGTH} characters`
    : err.code === 'FST_ERR_BAD_URL' ? 'invalid request: the URL is not valid (malformed percent-encoding)'
    : undefined;
  const e = message ? new PcmError('PCM_ERR_BAD_REQUEST', message) : toHttpError(err);
  void reply.status(e.status).send({ code: e.code, message: e.message });
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
