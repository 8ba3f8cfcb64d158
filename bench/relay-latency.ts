/**
 * Cross-gateway vs same-gateway delivery latency (issue 5 "Numbers"), part of
 * bench/relay.bench.ts (`--part latency`). Two real gateway processes (`pcm gateway`, via the
 * multi-gateway test harness) on the test bed's Kafka and a shared store; one raw WebSocket terminal on
 * gateway A that acks every message at once. Messages are posted one at a time, alternately
 * to A (terminal local: pushed directly) and to B (stored, then relayed to A over Kafka);
 * latency = POST sent -> message frame received by the terminal.
 * Bounded: --latency-messages (default 300, max 2,000) per side, one in flight at a time.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes, randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { mintTerminalToken } from '../protocol/token.js';
import { readServicesEnv, repoRoot } from '../test/services/env.js';
import { deleteTopics } from '../test/integration/kafka/kafka-fixture.js';
import { api, GatewayProc, type FleetSettings } from '../test/integration/multi-gateway/gateway-procs.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const r2 = (x: number) => Math.round(x * 100) / 100;

export async function latencyMain(): Promise<void> {
  const messages = Math.min(2_000, Number(arg('latency-messages', '300')));
  const store = arg('store', 'sqlite') as 'sqlite' | 'couchbase';
  const env = readServicesEnv();
  const brokers = process.env.PCM_KAFKA_BROKERS ?? env.PCM_TEST_KAFKA_BROKERS;
  if (!brokers) throw new Error('no Kafka: set PCM_KAFKA_BROKERS or run `npm run services -- up kafka`');
  const dir = mkdtempSync(path.join(tmpdir(), 'pcm-relay-latency-'));
  const fleet: FleetSettings = {
    brokers,
    prefix: `pcmlat-${randomUUID().slice(0, 6)}`,
    store,
    secret: randomBytes(24).toString('hex'),
    apiKey: 'key-' + randomBytes(8).toString('hex'),
    storeEnv:
      store === 'sqlite'
        ? { PCM_DATA_DIR: dir, PCM_SQLITE_SYNCHRONOUS: 'NORMAL' }
        : {
            PCM_COUCHBASE_CONNECTION_STRING: env.PCM_TEST_COUCHBASE_CONNSTR ?? '',
            PCM_COUCHBASE_BUCKET: env.PCM_TEST_COUCHBASE_BUCKET ?? 'pcm',
            PCM_COUCHBASE_USERNAME: env.PCM_TEST_COUCHBASE_USERNAME ?? 'Administrator',
            PCM_COUCHBASE_PASSWORD: env.PCM_TEST_COUCHBASE_PASSWORD ?? 'password',
          },
    heartbeatSeconds: 30,
  };
  const a = await GatewayProc.start('lat-a', fleet);
  const b = await GatewayProc.start('lat-b', fleet);
  const terminalId = `lat-${randomUUID().slice(0, 8)}`;
  const ws = new WebSocket(a.wsUrl, { headers: { authorization: `Bearer ${await mintTerminalToken(fleet.secret, terminalId)}` } });
  const arrivals = new Map<number, number>();
  let wake: (() => void) | undefined;
  ws.on('message', (d) => {
    const f = JSON.parse(d.toString());
    if (f.type !== 'message') return;
    arrivals.set(f.payload.n, performance.now());
    ws.send(JSON.stringify({ type: 'ack', seq: f.seq }));
    wake?.();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('message', () => resolve());
    ws.once('error', reject);
  });
  const same: number[] = [];
  const cross: number[] = [];
  try {
    // Warm-up: JIT, connections, the sender's topic cache (not measured).
    for (let n = -20; n < 0; n++) await post(n % 2 === 0 ? a : b, n);
    for (let i = 0; i < messages * 2; i++) {
      const gw = i % 2 === 0 ? a : b;
      const t0 = performance.now();
      await post(gw, i);
      (gw === a ? same : cross).push(arrivals.get(i)! - t0);
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    ws.close();
    await Promise.all([a.stop(), b.stop()]);
    await deleteTopics([brokers], fleet.prefix);
    rmSync(dir, { recursive: true, force: true });
  }

  async function post(gw: GatewayProc, n: number): Promise<void> {
    const got = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`message ${n} not delivered in 10 s`)), 10_000);
      wake = () => {
        if (arrivals.has(n)) {
          clearTimeout(t);
          resolve();
        }
      };
    });
    const r = await api(gw.base, fleet.apiKey, 'POST', `/v1/terminals/${terminalId}/messages`, { payload: { n } });
    if (r.status !== 202) throw new Error(`POST answered ${r.status}: ${JSON.stringify(r.body)}`);
    if (!arrivals.has(n)) await got;
  }

  same.sort((x, y) => x - y);
  cross.sort((x, y) => x - y);
  const row = (label: string, xs: number[]) => `| ${label} | ${xs.length} | ${r2(pct(xs, 50))} | ${r2(pct(xs, 90))} | ${r2(pct(xs, 99))} | ${r2(xs[xs.length - 1]!)} |`;
  const table = [
    `Delivery latency, POST /messages -> frame at the terminal (${store} store, Kafka relay, one message in flight):`,
    '',
    '| path | messages | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    row('same gateway (local push)', same),
    row('cross gateway (Kafka relay)', cross),
    `| added by the relay | | ${r2(pct(cross, 50) - pct(same, 50))} | ${r2(pct(cross, 90) - pct(same, 90))} | ${r2(pct(cross, 99) - pct(same, 99))} | |`,
  ].join('\n');
  console.log(table);
  const out = path.join(repoRoot, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  const file = path.join(out, `relay-latency-${store}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      {
        bench: 'relay-latency',
        store,
        messages,
        node: process.version,
        same: { p50: pct(same, 50), p90: pct(same, 90), p99: pct(same, 99), max: same.at(-1) },
        cross: { p50: pct(cross, 50), p90: pct(cross, 90), p99: pct(cross, 99), max: cross.at(-1) },
      },
      null,
      2,
    ) + '\n',
  );
  console.error(`wrote ${path.relative(repoRoot, file)}`);
}
