import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RawData } from 'ws';
import { PcmError, toPcmError } from '../../../common/errors.js';
import type { Logger } from '../../../common/logger.js';
import { decodeTerminalFrame } from '../../../protocol/codec.js';
import { bearer, verifyTerminalToken } from '../../../protocol/token.js';
import type { DeliveryEngine } from '../../core/engine.js';
import { HeartbeatSweeper } from './heartbeat.js';
import { WsTerminalConnection } from './ws-connection.js';
import type { ConnectBucket } from '../../core/admission.js';
import { dialedAt, stampDial } from '../dial-time.js';

export interface WsRouteOptions {
  engine: DeliveryEngine;
  terminalJwtSecret: string;
  heartbeatSeconds: number;
  /** Largest terminal frame decoded; larger ones get PCM_ERR_FRAME_TOO_LARGE and a close. */
  maxFrameBytes: number;
  logger: Logger;
  /** Admission control shared with the MQTT edge (gateway/core/admission.ts). */
  admission?: ConnectBucket;
}

declare module 'fastify' {
  interface FastifyRequest {
    terminalId?: string;
  }
}

/** Token from `Authorization: Bearer` or `?access_token=` (DESIGN.md section 5). */
export function terminalToken(req: FastifyRequest): string | undefined {
  const fromHeader = bearer(req.headers.authorization);
  if (fromHeader) return fromHeader;
  const q = (req.query as Record<string, unknown> | undefined)?.access_token;
  return typeof q === 'string' && q.length > 0 ? q : undefined;
}

/**
 * @fastify/websocket routes an upgrade through fastify with a ServerResponse assigned to the
 * socket (so a refusal before the upgrade can still be answered in HTTP) and never detaches
 * it: every upgraded socket then keeps that response, the upgrade request with all its
 * headers and fastify's Request, Reply and request logger alive for the whole connection,
 * about 2-3 KB per idle terminal (bench/heap-top.ts on a gateway with 2,000 terminals).
 * Once upgraded nothing answers in HTTP any more, so the gateway lets them go (and replaces
 * the library's socket 'error' listener, which closes over the same objects).
 */
export function releaseUpgradeResponse(req: FastifyRequest): void {
  const socket = req.raw.socket as (typeof req.raw.socket & { _httpMessage?: { detachSocket?(s: unknown): void } | null }) | null;
  const res = socket?._httpMessage;
  if (res && typeof res.detachSocket === 'function') res.detachSocket(socket);
}

/**
 * `GET /v1/connect` (DESIGN.md section 5). The JWT is verified before the upgrade, so a bad,
 * expired or wrong-subject token gets a plain HTTP 401 with `{code, message}` and no socket.
 * After the upgrade, bad frames get an `error` frame and change nothing; only an oversized
 * frame also closes the connection (1009), because its sender is not speaking the protocol.
 */
export function registerWsRoute(app: FastifyInstance, opts: WsRouteOptions): HeartbeatSweeper<WsTerminalConnection> {
  const { engine } = opts;
  const sweeper = new HeartbeatSweeper<WsTerminalConnection>(opts.heartbeatSeconds * 1000);
  // Accept order is dial order (the kernel's accept queue is FIFO): stamp every socket.
  app.server.on('connection', stampDial);
  app.server.on('secureConnection', stampDial);

  app.get(
    '/v1/connect',
    {
      websocket: true,
      config: { rateLimit: false }, // terminals are limited by the session cap, not the sender budget
      preValidation: async (req, reply) => {
        // Admission first: in a reconnect storm even JWT verification is work to refuse.
        const admitted = opts.admission?.take();
        if (admitted && !admitted.ok) {
          void reply.header('retry-after', String(Math.max(1, Math.ceil(admitted.retryAfterMs / 1000))));
          throw new PcmError('PCM_ERR_OVERLOADED', `too many terminal connections per second; retry in ${admitted.retryAfterMs} ms`, { details: { retryAfterMs: admitted.retryAfterMs } });
        }
        const claims = await verifyTerminalToken(opts.terminalJwtSecret, terminalToken(req));
        // Flapping detection after the token (nobody can get another terminal slowed down),
        // before the upgrade: a flapping terminal costs no session, store read or claim.
        const steady = engine.admitTerminal(claims.terminalId);
        if (!steady.ok) {
          void reply.header('retry-after', String(Math.max(1, Math.ceil(steady.retryAfterMs / 1000))));
          throw new PcmError('PCM_ERR_FLAPPING', `terminal ${claims.terminalId} reconnects too often; retry in ${steady.retryAfterMs} ms`, { details: { retryAfterMs: steady.retryAfterMs } });
        }
        req.terminalId = claims.terminalId;
      },
    },
    (socket, req) => {
      const terminalId = req.terminalId!;
      const log = opts.logger;
      releaseUpgradeResponse(req);
      // @fastify/websocket's own 'error' listener closes over fastify's Request and Reply for
      // the connection's lifetime; ours keeps only what it logs (errors end the socket either way).
      socket.removeAllListeners('error');
      socket.on('error', (err: Error) => {
        log.debug({ terminalId, err }, 'websocket error');
        socket.terminate();
      });
      const conn = new WsTerminalConnection(socket, terminalId, req.ip, dialedAt(req.raw.socket), req.raw.socket);
      sweeper.add(conn);
      socket.on('pong', () => sweeper.alive(conn));
      socket.on('message', (data: RawData, isBinary: boolean) => {
        sweeper.alive(conn);
        if (isBinary) {
          engine.rejectFrame(conn, new PcmError('PCM_ERR_BAD_REQUEST', 'binary frames are not supported; send one JSON object per text frame'));
          return;
        }
        let frame;
        try {
          frame = decodeTerminalFrame(data as Buffer, opts.maxFrameBytes);
        } catch (err) {
          const e = toPcmError(err, 'PCM_ERR_BAD_REQUEST');
          engine.rejectFrame(conn, e);
          if (e.code === 'PCM_ERR_FRAME_TOO_LARGE') conn.close('frame too large');
          return;
        }
        void engine.handleFrame(conn, frame);
      });
      socket.on('close', (code: number) => {
        sweeper.remove(conn);
        log.debug({ terminalId, code }, 'websocket closed');
        engine.disconnected(conn);
      });
      log.debug({ terminalId, reqId: req.id, remoteAddress: req.ip }, 'websocket connected');
      void engine.connect(conn).catch((err: unknown) => {
        log.error({ err, terminalId }, 'session setup failed');
        conn.close('internal error');
      });
    },
  );
  return sweeper;
}
