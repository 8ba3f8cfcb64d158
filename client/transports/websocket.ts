import WebSocket from 'ws';
import { ERROR_CATALOGUE, PcmError, type ErrorCode } from '../../common/errors.js';
import { MISSED_HEARTBEATS } from '../profiles.js';
import { decodeServerFrame } from '../decode.js';
import type { ClientTransport, TransportFactory } from './transport.js';

/**
 * Maps an HTTP refusal of the upgrade (401, 403, 503 …) to a typed error, using the body's code
 * when it has one; `Retry-After` (admission control, flapping detection) becomes
 * `details.retryAfterMs`, which PcmClient adds to its backoff. A 502, 503 or 504 without a
 * PCM error body comes from a proxy or load balancer in front of a gateway it cannot reach:
 * PCM_ERR_UNREACHABLE, like a refused connection (a PCM gateway's own 503 always has one).
 */
function refusal(status: number, body: string, retryAfter?: string | string[]): PcmError {
  let code: ErrorCode = status === 401 ? 'PCM_ERR_UNAUTHORIZED' : status === 403 ? 'PCM_ERR_FORBIDDEN' : status === 503 ? 'PCM_ERR_OVERLOADED' : 'PCM_ERR_INTERNAL';
  let message = `gateway refused the WebSocket upgrade with HTTP ${status}`;
  let pcmBody = false;
  try {
    const parsed = JSON.parse(body) as { code?: string; message?: string };
    if (parsed.code && parsed.code in ERROR_CATALOGUE) {
      code = parsed.code as ErrorCode;
      pcmBody = true;
    }
    if (parsed.message) message += `: ${parsed.message}`;
  } catch {
    /* not JSON: keep the status-derived code */
  }
  if (!pcmBody && (status === 502 || status === 503 || status === 504)) {
    code = 'PCM_ERR_UNREACHABLE';
    message = `a proxy answered the WebSocket upgrade with HTTP ${status}: the gateway behind it cannot be reached`;
  }
  const seconds = Number(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
  const retryAfterMs = Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 3600) * 1000 : undefined;
  return new PcmError(code, message, { details: retryAfterMs === undefined ? { status } : { status, retryAfterMs } });
}

/**
 * WebSocket transport (DESIGN.md section 5): `GET /v1/connect` with the JWT as a bearer
 * token, JSON text frames. Liveness: a ping every heartbeat; any inbound traffic (pong,
 * frame, server ping) proves the link; after MISSED_HEARTBEATS silent intervals the
 * socket is terminated so the client reconnects instead of waiting on a dead TCP link.
 */
export const connectWebSocket: TransportFactory = (opts, handlers) =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(opts.url, {
      headers: { authorization: `Bearer ${opts.token}` },
      handshakeTimeout: opts.connectTimeoutMs,
      perMessageDeflate: false,
    });
    let opened = false;
    let closed = false;
    let lastSeen = Date.now();
    let heartbeat: NodeJS.Timeout | undefined;
    let closeWaiters: (() => void)[] = [];

    const finish = (info: { code?: number; reason: string }) => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      if (opened) handlers.onClose(info);
      for (const w of closeWaiters) w();
      closeWaiters = [];
    };

    let refused = false;
    ws.on('unexpected-response', (_req, res) => {
      // Read the refusal before tearing the socket down: terminating first would reject with a
      // bare "closed before the connection was established" and lose the code and retry hint.
      refused = true;
      let body = '';
      const settle = () => {
        reject(refusal(res.statusCode ?? 0, body, res.headers['retry-after']));
        ws.terminate();
      };
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c.length < 4096 ? c : ''));
      res.on('end', settle);
      res.on('error', settle);
      res.on('close', settle);
    });
    ws.on('error', (err) => {
      if (!opened && !refused) reject(new PcmError('PCM_ERR_UNREACHABLE', `WebSocket connect to ${opts.url} failed: ${err.message}`, { cause: err }));
      else opts.logger.debug({ err }, 'websocket error');
    });
    ws.on('open', () => {
      opened = true;
      lastSeen = Date.now();
      if (opts.hello) ws.send(JSON.stringify(opts.hello));
      heartbeat = setInterval(() => {
        if (Date.now() - lastSeen > MISSED_HEARTBEATS * opts.heartbeatMs) {
          opts.logger.warn({ heartbeatMs: opts.heartbeatMs }, 'no traffic for two heartbeats; closing the connection');
          ws.terminate();
          finish({ code: 1006, reason: 'heartbeat timeout' });
          return;
        }
        ws.ping();
      }, opts.heartbeatMs);
      heartbeat.unref();
      const transport: ClientTransport = {
        protocol: 'websocket',
        send(frame) {
          if (ws.readyState !== WebSocket.OPEN) return false;
          ws.send(JSON.stringify(frame));
          return true;
        },
        close(reason) {
          if (closed) return Promise.resolve();
          return new Promise<void>((done) => {
            closeWaiters.push(done);
            ws.close(1000, reason.slice(0, 120));
            // A peer that never completes the closing handshake must not hold us.
            setTimeout(() => {
              ws.terminate();
              finish({ code: 1000, reason });
            }, 2000).unref();
          });
        },
      };
      resolve(transport);
    });
    const alive = () => (lastSeen = Date.now());
    ws.on('pong', alive);
    ws.on('ping', alive);
    ws.on('message', (data, isBinary) => {
      alive();
      try {
        handlers.onFrame(decodeServerFrame(isBinary ? (data as Buffer) : data.toString()));
      } catch (err) {
        handlers.onBadFrame(err as Error);
      }
    });
    ws.on('close', (code, reason) => finish({ code, reason: reason.toString() || `closed with code ${code}` }));
  });
