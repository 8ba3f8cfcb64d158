import { createServer, type Server, type AddressInfo } from 'node:net';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { FastifyInstance } from 'fastify';
import { createWebSocketStream } from 'ws';
import { PcmError, isPcmError, toPcmError } from '../../../common/errors.js';
import type { Logger } from '../../../common/logger.js';
import { decodeMqttAck, decodeMqttReply } from '../../../protocol/codec.js';
import { verifyTerminalToken } from '../../../protocol/token.js';
import { mayPublish, maySubscribe, parseTopic, topics } from '../../../protocol/topics.js';
import type { DeliveryEngine } from '../../core/engine.js';
import type { ConnectBucket } from '../../core/admission.js';
import { MqttTerminalConnection } from './mqtt-connection.js';
import { stampDial } from '../dial-time.js';
import { guardMqttPackets } from '../../security/mqtt-packet-guard.js';

export interface MqttEdgeOptions {
  engine: DeliveryEngine;
  terminalJwtSecret: string;
  maxFrameBytes: number;
  logger: Logger;
  /** Admission control shared with the WebSocket edge (gateway/core/admission.ts). */
  admission?: ConnectBucket;
}

/** MQTT 3.1.1 CONNACK return codes used (documented in docs/protocol.md). */
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

function authError(returnCode: number, message: string): AuthenticateError {
  const err = new Error(message) as AuthenticateError;
  err.returnCode = returnCode;
  return err;
}

/**
 * The MQTT edge (DESIGN.md section 5, issue 2 item 3): an embedded aedes broker on TCP and
 * on `/mqtt` (MQTT over WebSocket) feeding the same engine as the WebSocket edge.
 *
 * - CONNECT: password = terminal JWT; client id and username must both equal its `sub`.
 * - ACL: subscribe to own `messages`/`control`, publish to own `ack`/`reply`; any other
 *   subscription gets SUBACK 0x80, any other publish closes the connection.
 * - The session is registered when the terminal subscribes to its `messages` topic, so no
 *   message is written before the subscription exists.
 */
export class MqttEdge {
  private readonly conns = new Map<Client, MqttTerminalConnection>();
  private server: Server | undefined;

  private constructor(
    readonly broker: Aedes,
    private readonly opts: MqttEdgeOptions,
  ) {}

  static async create(opts: MqttEdgeOptions): Promise<MqttEdge> {
    const log = opts.logger;
    let edge: MqttEdge | undefined;
    const broker = await Aedes.createBroker({
      connectTimeout: 10_000,
      maxClientsIdLength: 128,
      // The gateway's store is the only queue (DESIGN.md section 2.7 spirit): MQTT sessions are
      // always clean (CONNACK session-present 0), so the broker never replays stale QoS 1
      // packets ahead of the ordered drain, which a seq high-water-mark client would take as
      // proof that the lower seqs were handled. Last-will messages are dropped: terminals
      // publish only acks and replies, which mean nothing once the session is gone.
      preConnect: (_client, packet, done) => {
        packet.clean = true;
        delete (packet as { will?: unknown }).will;
        done(null, true);
      },
      authenticate: (client, username, password, done) => {
        const admitted = opts.admission?.take();
        if (admitted && !admitted.ok) {
          log.debug({ clientId: client.id, retryAfterMs: admitted.retryAfterMs }, 'mqtt connect refused: admission control');
          done(authError(SERVER_UNAVAILABLE, 'too many terminal connections per second'), false);
          return;
        }
        void verifyTerminalToken(opts.terminalJwtSecret, password?.toString('utf8')).then(
          (claims) => {
            if (client.id !== claims.terminalId || username !== claims.terminalId) {
              log.debug({ clientId: client.id, username, sub: claims.terminalId }, 'mqtt connect refused: client id/username differ from the token subject');
              done(authError(NOT_AUTHORIZED, 'client id and username must equal the token subject'), false);
              return;
            }
            // Flapping detection (engine.admitTerminal): MQTT 3.1.1 has no retry hint, so CONNACK 3.
            const steady = opts.engine.admitTerminal(claims.terminalId);
            if (!steady.ok) {
              log.debug({ clientId: client.id, retryAfterMs: steady.retryAfterMs }, 'mqtt connect refused: flapping');
              done(authError(SERVER_UNAVAILABLE, 'terminal reconnects too often'), false);
              return;
            }
            done(null, true);
          },
          (err: unknown) => {
            log.debug({ clientId: client.id, code: isPcmError(err) ? err.code : undefined }, 'mqtt connect refused: bad token');
            done(authError(BAD_USERNAME_OR_PASSWORD, isPcmError(err) ? err.message : 'invalid token'), false);
          },
        );
      },
      authorizeSubscribe: (client, sub, done) => {
        if (!maySubscribe(client.id, sub.topic)) {
          log.debug({ terminalId: client.id, topic: sub.topic }, 'mqtt subscribe refused');
          done(null, null); // SUBACK 0x80 for this topic
          return;
        }
        done(null, sub);
      },
      authorizePublish: (client, packet, done) => {
        if (!client) return done(null); // the broker's own $SYS publishes
        if (!mayPublish(client.id, packet.topic)) {
          log.debug({ terminalId: client.id, topic: packet.topic }, 'mqtt publish refused');
          return done(new PcmError('PCM_ERR_FORBIDDEN', `publishing to ${packet.topic} is not allowed`));
        }
        edge?.onTerminalPublish(client, packet.topic, packet.payload as Buffer);
        done(null);
      },
      // Nothing a terminal publishes is forwarded to other subscribers (ack/reply are for the gateway).
      authorizeForward: (client, packet) => (packet.topic.startsWith('pcm/t/') && parseTopic(packet.topic)?.kind !== 'messages' && parseTopic(packet.topic)?.kind !== 'control' ? null : packet),
    });
    edge = new MqttEdge(broker, opts);
    broker.on('subscribe', (subs, client) => edge!.onSubscribe(subs, client));
    broker.on('unsubscribe', (unsubs, client) => {
      if (unsubs.includes(topics.messages(client.id))) edge!.detach(client);
    });
    broker.on('clientDisconnect', (client) => edge!.detach(client));
    broker.on('clientError', (client, err) => log.debug({ terminalId: client.id, err: err.message }, 'mqtt client error'));
    return edge;
  }

  /** Largest MQTT packet accepted: a frame plus room for the topic and header (gateway/security/mqtt-packet-guard.ts). */
  get maxPacketBytes(): number {
    return this.opts.maxFrameBytes + 1024;
  }

  get sessionCount(): number {
    return this.conns.size;
  }

  private onSubscribe(subs: Array<{ topic: string; qos: number }>, client: Client): void {
    const want = topics.messages(client.id);
    if (!subs.some((s) => s.topic === want && s.qos !== 128)) return;
    if (this.conns.has(client) || client.closed) return;
    const conn = new MqttTerminalConnection(client);
    this.conns.set(client, conn);
    void this.opts.engine.connect(conn).catch((err: unknown) => {
      this.opts.logger.error({ err, terminalId: client.id }, 'mqtt session setup failed');
      conn.close();
    });
  }

  private detach(client: Client): void {
    const conn = this.conns.get(client);
    if (!conn) return;
    this.conns.delete(client);
    this.opts.engine.disconnected(conn);
  }

  /** `pcm/t/<id>/ack` `{"seq"}` and `pcm/t/<id>/reply` `{"correlationId","payload"}`; bad payloads get an error on control. */
  private onTerminalPublish(client: Client, topic: string, payload: Buffer): void {
    const conn = this.conns.get(client);
    if (!conn) return; // not subscribed to its messages yet: there is no session to ack on
    const kind = parseTopic(topic)!.kind;
    let frame;
    try {
      frame = kind === 'ack' ? decodeMqttAck(payload, this.opts.maxFrameBytes) : decodeMqttReply(payload, this.opts.maxFrameBytes);
    } catch (err) {
      this.opts.engine.rejectFrame(conn, toPcmError(err, 'PCM_ERR_BAD_REQUEST'));
      return;
    }
    void this.opts.engine.handleFrame(conn, frame);
  }

  /** MQTT over WebSocket on the HTTP port (`/mqtt`, subprotocol `mqtt`). */
  registerWebSocketRoute(app: FastifyInstance): void {
    app.get('/mqtt', { websocket: true, config: { rateLimit: false } }, (socket, req) => {
      const stream = createWebSocketStream(socket);
      stampDial(stream);
      guardMqttPackets(stream, this.maxPacketBytes);
      stream.on('error', () => stream.destroy());
      this.broker.handle(stream, req.raw);
    });
  }

  async listen(host: string, port: number): Promise<number> {
    const server = createServer((sock) => {
      // Small MQTT packets (PUBLISH, PUBACK) must not wait for Nagle's algorithm to meet the
      // peer's delayed ACK (~40 ms per exchange); `ws` sets the same on WebSocket sockets.
      sock.setNoDelay(true);
      stampDial(sock);
      guardMqttPackets(sock, this.maxPacketBytes); // aedes has no packet size limit (issue 8)
      this.broker.handle(sock);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  }

  /** Stops accepting, then closes the broker (which closes every client), then the listener. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    await new Promise<void>((resolve) => this.broker.close(() => resolve()));
    await closed;
  }
}
