import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { AddressInfo } from 'node:net';
import { Kafka, logLevel } from 'kafkajs';
import { repoRoot } from '../../services/env.js';

const PCM = path.join(repoRoot, 'bin', 'pcm.js');

export interface FleetSettings {
  brokers: string;
  prefix: string;
  store: 'sqlite' | 'couchbase';
  secret: string;
  apiKey: string;
  /** env for the store: PCM_DATA_DIR (shared SQLite files) or PCM_COUCHBASE_*. */
  storeEnv: Record<string, string>;
  heartbeatSeconds?: number;
}

/**
 * One gateway OS process: `node bin/pcm.js gateway` (production wiring, gateway/main.ts),
 * configured through PCM_* env vars; `kill9` is a real SIGKILL. Ports are ephemeral and read
 * from the "gateway listening" log line.
 */
export class GatewayProc {
  httpPort = 0;
  mqttPort = 0;
  exited: Promise<number | null>;
  private waiters: Array<(obj: Record<string, unknown>) => boolean> = [];
  readonly stderr: string[] = [];
  readonly stdout: string[] = [];

  private constructor(
    readonly id: string,
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.stdout.push(line);
      if (this.stdout.length > 200) this.stdout.shift();
      let obj: Record<string, unknown>;
      try {
        obj = JSON.parse(line);
      } catch {
        return;
      }
      this.waiters = this.waiters.filter((w) => !w(obj));
    });
    createInterface({ input: child.stderr! }).on('line', (line) => {
      this.stderr.push(line);
      if (this.stderr.length > 200) this.stderr.shift();
    });
  }

  /** `extraEnv` is applied last (per-gateway settings, e.g. PCM_CLOCK_OFFSET_MS in the clock-skew fault case). */
  static async start(id: string, fleet: FleetSettings, timeoutMs = 90_000, extraEnv: Record<string, string> = {}): Promise<GatewayProc> {
    const env = {
      ...process.env,
      ...fleet.storeEnv,
      PCM_GATEWAY_ID: id,
      PCM_RELAY: 'kafka',
      PCM_STORE: fleet.store,
      PCM_KAFKA_BROKERS: fleet.brokers,
      PCM_KAFKA_TOPIC_PREFIX: fleet.prefix,
      PCM_HOST: '127.0.0.1',
      PCM_HTTP_PORT: '0',
      PCM_MQTT_PORT: '0',
      PCM_TERMINAL_JWT_SECRET: fleet.secret,
      PCM_API_KEYS: fleet.apiKey,
      PCM_HEARTBEAT_SECONDS: String(fleet.heartbeatSeconds ?? 2),
      // info: the "gateway listening" line carries the bound ports.
      PCM_LOG_LEVEL: 'info',
      ...extraEnv,
    };
    const child = spawn(process.execPath, [PCM, 'gateway'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const gp = new GatewayProc(id, child);
    const ready = await Promise.race([
      gp.next((o) => o.msg === 'gateway listening' || (typeof o.level === 'number' && o.level >= 60)),
      gp.exited.then((code): Record<string, unknown> => ({ msg: 'exited', code })),
      new Promise<Record<string, unknown>>((r) => setTimeout(() => r({ msg: 'timeout' }), timeoutMs)),
    ]);
    if (ready.msg !== 'gateway listening') {
      child.kill('SIGKILL');
      throw new Error(`gateway ${id} did not start (${JSON.stringify(ready)}):\n${[...gp.stdout, ...gp.stderr].slice(-20).join('\n')}`);
    }
    gp.httpPort = Number(new URL(ready.http as string).port);
    gp.mqttPort = Number(new URL(ready.mqtt as string).port);
    return gp;
  }

  private next(pred: (o: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    return new Promise((resolve) =>
      this.waiters.push((o) => {
        if (!pred(o)) return false;
        resolve(o);
        return true;
      }),
    );
  }

  get base(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.httpPort}/v1/connect`;
  }
  get mqttUrl(): string {
    return `mqtt://127.0.0.1:${this.mqttPort}`;
  }

  kill9(): void {
    this.child.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(t);
  }
}

/**
 * Records ever written to each relay topic (sum of partition high watermarks; 0 when the
 * topic does not exist). Counted on the broker, so it covers every record a gateway could
 * consume: a bystander whose own topic and the broadcast topic did not grow consumed nothing.
 */
export async function topicRecords(brokers: string, topics: string[]): Promise<Record<string, number>> {
  const admin = new Kafka({ clientId: 'pcm-test-offsets', brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const out: Record<string, number> = {};
    for (const t of topics) {
      out[t] = existing.has(t) ? (await admin.fetchTopicOffsets(t)).reduce((sum, p) => sum + Number(p.high), 0) : 0;
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}

export async function api(base: string, apiKey: string, method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(base + p, {
    method,
    headers: { authorization: `Bearer ${apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed };
}

/**
 * A minimal discovery endpoint (DESIGN.md section 5 "Discovery" response shape) whose
 * assignment the test moves: lets one PcmClient follow its terminal from gateway to gateway
 * exactly as it would follow the real discovery service.
 */
export class TestDiscovery {
  private readonly assigned = new Map<string, GatewayProc>();
  private generation = 1;
  private server!: http.Server;
  url = '';

  static async start(): Promise<TestDiscovery> {
    const d = new TestDiscovery();
    d.server = http.createServer((req, res) => {
      const id = decodeURIComponent((req.url ?? '').split('/').pop() ?? '');
      const gw = d.assigned.get(id);
      if (!gw) {
        res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'PCM_ERR_NO_GATEWAY', message: 'unassigned' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ terminalId: id, gatewayId: gw.id, websocketUrl: gw.wsUrl, mqttUrl: gw.mqttUrl, pollAfterSeconds: 1, generation: d.generation }),
      );
    });
    await new Promise<void>((r) => d.server.listen(0, '127.0.0.1', r));
    d.url = `http://127.0.0.1:${(d.server.address() as AddressInfo).port}`;
    return d;
  }

  assign(terminalId: string, gw: GatewayProc): void {
    this.assigned.set(terminalId, gw);
    this.generation++;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}
