/**
 * End-to-end harness: a real gateway on 127.0.0.1 ephemeral ports, real WebSocket and MQTT
 * clients, real HTTP. Each test file builds its own gateway(s), so files run in parallel.
 */
import http from 'node:http';
import WebSocket from 'ws';
import mqtt, { type MqttClient } from 'mqtt';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../common/logger.js';
import { mintTerminalToken } from '../../protocol/token.js';
import { buildGateway, type Gateway, type GatewayAppConfig } from '../../gateway/app.js';
import { GatewayConfigSchema } from '../../gateway/config.js';
import { loadConfig } from '../../common/config.js';
import { MemoryMessageStore } from '../../gateway/adapters/memory/memory-store.js';
import { SqliteMessageStore } from '../../gateway/adapters/sqlite/sqlite-store.js';
import { MemorySessionDirectory } from '../../gateway/adapters/memory/memory-directory.js';
import { InProcessRelayHub } from '../../gateway/adapters/inprocess/inprocess-relay.js';
import type { MessageStore } from '../../gateway/ports/message-store.js';
import type { SessionDirectory } from '../../gateway/ports/session-directory.js';

export interface TestGateway {
  gw: Gateway;
  httpPort: number;
  mqttPort?: number;
  base: string;
  secret: string;
  apiKey: string;
  store: MessageStore;
  token(terminalId: string, ttlSeconds?: number): Promise<string>;
  /** apiKey: default the gateway's key; null sends no Authorization header. */
  send(terminalId: string, body: unknown, apiKey?: string | null): Promise<{ status: number; body: any; headers: Headers }>;
  post(path: string, body: unknown, apiKey?: string | null): Promise<{ status: number; body: any; headers: Headers }>;
  get(path: string, apiKey?: string | null): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

export interface StartOptions {
  config?: Partial<GatewayAppConfig>;
  store?: MessageStore;
  /** Instead of `store`: the durable default, a SQLite file in a fresh temp dir removed on close. */
  sqlite?: boolean;
  directory?: SessionDirectory;
  hub?: InProcessRelayHub;
  mqtt?: boolean;
}

export async function startGateway(opts: StartOptions = {}): Promise<TestGateway> {
  const secret = randomBytes(24).toString('hex');
  const apiKey = 'test-key-' + randomBytes(8).toString('hex');
  const base = loadConfig(GatewayConfigSchema, { env: { PCM_TERMINAL_JWT_SECRET: secret, PCM_API_KEYS: apiKey } });
  const config: GatewayAppConfig = { ...base, host: '127.0.0.1', httpPort: 0, mqttPort: 0, ...opts.config };
  const sqliteDir = opts.sqlite ? mkdtempSync(path.join(tmpdir(), 'pcm-e2e-sqlite-')) : undefined;
  const store = opts.store ?? (sqliteDir ? new SqliteMessageStore({ file: path.join(sqliteDir, 'messages.db') }) : new MemoryMessageStore());
  const hub = opts.hub ?? new InProcessRelayHub();
  const gw = await buildGateway({
    config,
    store,
    directory: opts.directory ?? new MemorySessionDirectory(),
    relay: hub.bus({ logger: silentLogger }),
    logger: silentLogger,
    mqtt: opts.mqtt,
  });
  const { httpPort, mqttPort } = await gw.listen();
  const url = `http://127.0.0.1:${httpPort}`;
  const req = async (method: string, path: string, body: unknown, key: string | null | undefined) => {
    const headers: Record<string, string> = {};
    if (key !== undefined && key !== null) headers.authorization = `Bearer ${key}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(url + path, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed as any, headers: res.headers };
  };
  return {
    gw,
    httpPort,
    mqttPort,
    base: url,
    secret: config.terminalJwtSecret,
    apiKey: config.apiKeys[0]!,
    store,
    token: (id, ttl) => mintTerminalToken(config.terminalJwtSecret, id, ttl),
    send: (id, body, key = config.apiKeys[0]) => req('POST', `/v1/terminals/${encodeURIComponent(id)}/messages`, body, key),
    post: (path, body, key = config.apiKeys[0]) => req('POST', path, body, key),
    get: (path, key = config.apiKeys[0]) => req('GET', path, undefined, key),
    close: async () => {
      await gw.close();
      if (sqliteDir) rmSync(sqliteDir, { recursive: true, force: true });
    },
  };
}

export async function waitUntil<T>(fn: () => T | undefined | false, timeoutMs = 3000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An MQTT CONNECT as terminal `id` with its JWT: resolves the CONNACK return code (0 = accepted). */
export async function mqttConnackCode(t: TestGateway, id: string): Promise<number> {
  const c = mqtt.connect(`mqtt://127.0.0.1:${t.mqttPort}`, { clientId: id, username: id, password: await t.token(id), reconnectPeriod: 0, protocolVersion: 4 });
  try {
    return await new Promise<number>((resolve) => {
      c.once('connect', () => resolve(0));
      c.once('error', (err: Error & { code?: number }) => resolve(err.code ?? -1));
    });
  } finally {
    await c.endAsync(true);
  }
}

/** A raw WebSocket upgrade request expected to be refused: the HTTP answer (status, Retry-After). */
export async function refusedUpgrade(t: TestGateway, id: string): Promise<http.IncomingMessage> {
  const token = await t.token(id);
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const headers = { authorization: `Bearer ${token}`, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' };
    const req = http.get({ host: '127.0.0.1', port: t.httpPort, path: '/v1/connect', headers }, resolve);
    req.on('upgrade', () => reject(new Error(`${id}: upgraded although it should have been refused`)));
    req.on('error', reject);
  });
  res.resume();
  return res;
}

/** A raw WebSocket terminal recording every frame. */
export class WsTerminal {
  readonly frames: any[] = [];
  closed: { code: number; reason: string } | undefined;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => this.frames.push(JSON.parse(d.toString())));
    ws.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
  }

  static async open(t: TestGateway, terminalId: string, opts: { token?: string; query?: boolean; autoPong?: boolean } = {}): Promise<WsTerminal> {
    const token = opts.token ?? (await t.token(terminalId));
    const url = `ws://127.0.0.1:${t.httpPort}/v1/connect${opts.query ? `?access_token=${token}` : ''}`;
    const ws = new WebSocket(url, { headers: opts.query ? {} : { authorization: `Bearer ${token}` }, autoPong: opts.autoPong ?? true });
    const term = new WsTerminal(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body: JSON.parse(body || '{}') })));
      });
    });
    await term.next('welcome');
    return term;
  }

  messages(): any[] {
    return this.frames.filter((f) => f.type === 'message');
  }

  async next(type: string, timeoutMs = 3000): Promise<any> {
    return waitUntil(() => this.frames.find((f) => f.type === type && !f.__seen && (f.__seen = true)), timeoutMs, `a ${type} frame`);
  }

  async waitMessages(n: number, timeoutMs = 3000): Promise<any[]> {
    await waitUntil(() => this.messages().length >= n, timeoutMs, `${n} message frames (have ${this.messages().length})`);
    return this.messages();
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  ack(seq: number): void {
    this.ws.send(JSON.stringify({ type: 'ack', seq }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const done = new Promise((r) => this.ws.once('close', r));
    this.ws.close();
    await done;
  }

  async waitClosed(timeoutMs = 3000): Promise<{ code: number; reason: string }> {
    return waitUntil(() => this.closed, timeoutMs, 'close');
  }
}

/** An MQTT terminal (mqtt.js, MQTT 3.1.1) recording messages and control frames. */
export class MqttTerminal {
  readonly messages: any[] = [];
  readonly control: any[] = [];
  private constructor(
    readonly client: MqttClient,
    readonly terminalId: string,
  ) {
    client.on('message', (topic, payload) => {
      const obj = JSON.parse(payload.toString());
      if (topic.endsWith('/messages')) this.messages.push(obj);
      else this.control.push(obj);
    });
  }

  static async open(url: string, terminalId: string, password: string, opts: { clientId?: string; username?: string; subscribe?: boolean } = {}): Promise<MqttTerminal> {
    const client = mqtt.connect(url, {
      protocolVersion: 4,
      clientId: opts.clientId ?? terminalId,
      username: opts.username ?? terminalId,
      password,
      reconnectPeriod: 0,
      connectTimeout: 3000,
      clean: true,
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    const term = new MqttTerminal(client, terminalId);
    if (opts.subscribe !== false) {
      await client.subscribeAsync([`pcm/t/${terminalId}/control`, `pcm/t/${terminalId}/messages`], { qos: 1 });
    }
    return term;
  }

  async waitMessages(n: number, timeoutMs = 3000): Promise<any[]> {
    await waitUntil(() => this.messages.length >= n, timeoutMs, `${n} MQTT messages (have ${this.messages.length})`);
    return this.messages;
  }

  async ack(seq: number): Promise<void> {
    await this.client.publishAsync(`pcm/t/${this.terminalId}/ack`, JSON.stringify({ seq }), { qos: 1 });
  }

  async reply(correlationId: string, payload: unknown): Promise<void> {
    await this.client.publishAsync(`pcm/t/${this.terminalId}/reply`, JSON.stringify({ correlationId, payload }), { qos: 1 });
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}
