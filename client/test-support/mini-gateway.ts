import http from 'node:http';
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import { Aedes } from 'aedes';
import { bearer, verifyTerminalToken } from '../../protocol/token.js';
import { mayPublish, maySubscribe, parseTopic, topics } from '../../protocol/topics.js';
import type { MessageFrame, ServerFrame } from '../../protocol/frames.js';

/**
 * A deliberately small, real gateway peer for the client's own tests: real `ws` and real
 * `aedes` servers on 127.0.0.1 speaking the terminal contract (DESIGN.md section 5) with an
 * in-memory per-terminal queue (seq counter, ack cursor, redelivery of everything unacked
 * on every connect). It is NOT the product gateway (gateway/); the e2e tests in
 * test/e2e/client-gateway.test.ts run PcmClient against that one.
 */
interface Queue {
  epoch: string;
  nextSeq: number;
  cursor: number;
  pending: MessageFrame[];
}

interface Conn {
  protocol: 'websocket' | 'mqtt';
  send(frame: ServerFrame): void;
  close(): void;
  terminate(): void;
}

export class MiniGateway {
  readonly acks: { terminalId: string; seq: number; protocol: string }[] = [];
  readonly replies: { terminalId: string; correlationId: string; payload: unknown }[] = [];
  /** Connection attempts that reached the server, with their time, per protocol. */
  readonly connectAttempts: { at: number; protocol: string; terminalId?: string }[] = [];
  /** Answer WebSocket upgrades with 503 and refuse MQTT CONNECTs (a gateway that is down). */
  refuse = false;
  /** With `refuse`: send `Retry-After: <seconds>` with the 503 (admission control, flapping detection). */
  retryAfterSeconds: number | undefined;
  private readonly queues = new Map<string, Queue>();
  private readonly conns = new Map<string, Conn>();
  private httpServer!: http.Server;
  private wss!: WebSocketServer;
  private broker!: Aedes;
  private mqttServer!: net.Server;
  wsUrl = '';
  mqttUrl = '';

  private constructor(private readonly secret: string) {}

  /** `ports`: listen there (a gateway coming back on its old address); default ephemeral. */
  static async start(secret: string, ports: { http?: number; mqtt?: number } = {}): Promise<MiniGateway> {
    const g = new MiniGateway(secret);
    await g.listen(ports);
    return g;
  }

  private async listen(ports: { http?: number; mqtt?: number }): Promise<void> {
    this.wss = new WebSocketServer({ noServer: true });
    this.httpServer = http.createServer((_req, res) => res.writeHead(404).end());
    this.httpServer.on('upgrade', (req, socket, head) => {
      this.connectAttempts.push({ at: Date.now(), protocol: 'websocket' });
      const reject = (status: number, code: string) => {
        const hint = status === 503 && this.retryAfterSeconds !== undefined ? `retry-after: ${this.retryAfterSeconds}\r\n` : '';
        socket.end(`HTTP/1.1 ${status} X\r\ncontent-type: application/json\r\n${hint}connection: close\r\n\r\n${JSON.stringify({ code, message: code })}`);
      };
      if (this.refuse) return reject(503, 'PCM_ERR_OVERLOADED');
      verifyTerminalToken(this.secret, bearer(req.headers.authorization)).then(
        (claims) => this.wss.handleUpgrade(req, socket, head, (ws) => this.attachWs(claims.terminalId, ws)),
        () => reject(401, 'PCM_ERR_UNAUTHORIZED'),
      );
    });
    await new Promise<void>((r) => this.httpServer.listen(ports.http ?? 0, '127.0.0.1', r));
    this.wsUrl = `ws://127.0.0.1:${(this.httpServer.address() as net.AddressInfo).port}/v1/connect`;

    this.broker = await Aedes.createBroker({
      authenticate: (client, username, password, done) => {
        this.connectAttempts.push({ at: Date.now(), protocol: 'mqtt', terminalId: client.id });
        if (this.refuse) return done(Object.assign(new Error('down'), { returnCode: 3 as const }), false);
        verifyTerminalToken(this.secret, password?.toString()).then(
          (c) => (c.terminalId === username && c.terminalId === client.id ? done(null, true) : done(Object.assign(new Error('forbidden'), { returnCode: 5 as const }), false)),
          () => done(Object.assign(new Error('bad token'), { returnCode: 4 as const }), false),
        );
      },
      authorizeSubscribe: (client, sub, cb) => (maySubscribe(client.id, sub.topic) ? cb(null, sub) : cb(new Error('not yours'))),
      authorizePublish: (client, packet, cb) => (client && !mayPublish(client.id, packet.topic) ? cb(new Error('not yours')) : cb(null)),
    });
    this.broker.on('subscribe', (subs, client) => {
      if (client && subs.some((s) => s.topic === topics.messages(client.id))) this.attachMqtt(client.id, client);
    });
    this.broker.on('clientDisconnect', (client) => {
      const c = this.conns.get(client.id);
      if (c?.protocol === 'mqtt') this.conns.delete(client.id);
    });
    this.broker.on('publish', (packet, client) => {
      if (!client) return;
      const t = parseTopic(packet.topic);
      if (!t) return;
      const body = JSON.parse(packet.payload.toString()) as { seq?: number; correlationId?: string; payload?: unknown };
      if (t.kind === 'ack') this.ack(t.terminalId, body.seq!, 'mqtt');
      if (t.kind === 'reply') this.replies.push({ terminalId: t.terminalId, correlationId: body.correlationId!, payload: body.payload });
    });
    this.mqttServer = net.createServer(this.broker.handle);
    await new Promise<void>((r) => this.mqttServer.listen(ports.mqtt ?? 0, '127.0.0.1', r));
    this.mqttUrl = `mqtt://127.0.0.1:${(this.mqttServer.address() as net.AddressInfo).port}`;
  }

  private queue(terminalId: string): Queue {
    let q = this.queues.get(terminalId);
    if (!q) {
      q = { epoch: randomUUID(), nextSeq: 1, cursor: 0, pending: [] };
      this.queues.set(terminalId, q);
    }
    return q;
  }

  private attachWs(terminalId: string, ws: WebSocket): void {
    const conn: Conn = {
      protocol: 'websocket',
      send: (f) => ws.send(JSON.stringify(f)),
      close: () => ws.close(1000, 'bye'),
      terminate: () => ws.terminate(),
    };
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as { type: string; seq?: number; correlationId?: string; payload?: unknown };
      if (f.type === 'ack') this.ack(terminalId, f.seq!, 'websocket');
      if (f.type === 'reply') this.replies.push({ terminalId, correlationId: f.correlationId!, payload: f.payload });
    });
    ws.on('close', () => {
      if (this.conns.get(terminalId) === conn) this.conns.delete(terminalId);
    });
    this.open(terminalId, conn);
  }

  private attachMqtt(terminalId: string, client: { close(): void }): void {
    const publish = (topic: string, f: ServerFrame) =>
      this.broker.publish({ cmd: 'publish', topic, payload: Buffer.from(JSON.stringify(f)), qos: 1, retain: false, dup: false }, () => {});
    this.open(terminalId, {
      protocol: 'mqtt',
      send: (f) => publish(f.type === 'message' ? topics.messages(terminalId) : topics.control(terminalId), f),
      close: () => client.close(),
      terminate: () => client.close(),
    });
  }

  /** Takeover of an older connection, welcome, then every unacked message in order. */
  private open(terminalId: string, conn: Conn): void {
    this.conns.get(terminalId)?.terminate();
    this.conns.set(terminalId, conn);
    const q = this.queue(terminalId);
    conn.send({ type: 'welcome', terminalId, sessionId: randomUUID(), heartbeatSeconds: 30, epoch: q.epoch, lastAckedSeq: q.cursor });
    for (const m of q.pending) conn.send(m);
  }

  /** Record acks but do not apply them: everything is redelivered on the next connect. */
  ignoreAcks = false;

  private ack(terminalId: string, seq: number, protocol: string): void {
    this.acks.push({ terminalId, seq, protocol });
    if (this.ignoreAcks) return;
    const q = this.queue(terminalId);
    q.cursor = Math.max(q.cursor, seq);
    q.pending = q.pending.filter((m) => m.seq > q.cursor);
  }

  /** Stores a message and pushes it if the terminal is connected; returns its seq. */
  push(terminalId: string, payload: unknown, correlationId?: string): number {
    const q = this.queue(terminalId);
    const now = new Date();
    const m: MessageFrame = {
      type: 'message',
      seq: q.nextSeq++,
      messageId: randomUUID(),
      payload,
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + 3600_000).toISOString(),
      epoch: q.epoch,
      ...(correlationId ? { correlationId } : {}),
    };
    q.pending.push(m);
    this.conns.get(terminalId)?.send(m);
    return m.seq;
  }

  /** The store lost the terminal's counter: new epoch, seqs start at 1 again. */
  resetCounter(terminalId: string): string {
    const q = this.queue(terminalId);
    q.epoch = randomUUID();
    q.nextSeq = 1;
    q.cursor = 0;
    q.pending = [];
    return q.epoch;
  }

  cursor(terminalId: string): number {
    return this.queue(terminalId).cursor;
  }

  isConnected(terminalId: string): boolean {
    return this.conns.has(terminalId);
  }

  sendDrain(terminalId: string, reconnectAfterMs: number, closeAfterMs = 1000): void {
    const c = this.conns.get(terminalId);
    if (!c) throw new Error(`${terminalId} is not connected`);
    c.send({ type: 'drain', reconnectAfterMs, reason: 'test drain' });
    setTimeout(() => c.close(), closeAfterMs).unref();
  }

  /** Drops every connection without a close handshake (a network cut). */
  cutAll(): void {
    for (const c of this.conns.values()) c.terminate();
    this.conns.clear();
  }

  async close(): Promise<void> {
    this.cutAll();
    for (const ws of this.wss.clients) ws.terminate();
    const closed = new Promise<void>((r) => this.httpServer.close(() => r()));
    this.httpServer.closeAllConnections();
    await closed;
    await new Promise<void>((r) => this.broker.close(() => r()));
    await new Promise<void>((r) => this.mqttServer.close(() => r()));
  }
}
