/**
 * Micro-benchmarks of per-message pieces of the delivery path, in this process, no sockets:
 *   - messageFrame: building and encoding one `message` frame (fan-out-like: runs of messages
 *     that share their timestamps);
 *   - timeline: MemoryTimeline.record of the three events a delivered message produces (sent,
 *     delivered, acked) round-robin over 1,000 terminals with full rings (the steady state);
 *   - histogram observe: prom-client's Histogram through a child bound with labels() beside
 *     gateway/observability/fast-histogram.ts (four observations per delivered message);
 *   - terminal token: verifyTerminalToken (every WebSocket/MQTT connect and discovery request;
 *     fast-jwt, synchronous node:crypto HMAC) beside jose's jwtVerify (WebCrypto) with the key
 *     imported once and with the raw secret, the two earlier versions of this code.
 * Reports wall and process CPU microseconds per operation (process CPU includes V8's helper
 * threads, so garbage collection shows). Numbers are for before/after comparisons of one
 * function on one machine (check out the older file and run again), not for the README.
 *
 *   npx tsx bench/hot-path.bench.ts [--rounds 3]
 */
import { randomUUID } from 'node:crypto';
import { jwtVerify } from 'jose';
import { mintTerminalToken, verifyTerminalToken } from '../protocol/token.js';
import { messageFrame } from '../gateway/core/message-frame.js';
import { MemoryTimeline } from '../gateway/adapters/timeline/memory-timeline.js';
import { Histogram, Registry } from 'prom-client';
import { FastHistogram } from '../gateway/observability/fast-histogram.js';
import type { StoredMessage } from '../gateway/ports/message-store.js';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write('usage: npx tsx bench/hot-path.bench.ts [--rounds 3]\n');
  process.exit(0);
}
const i = process.argv.indexOf('--rounds');
const rounds = i > 0 ? Number(process.argv[i + 1]) : 3;
if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');

function measure(name: string, ops: number, body: () => void): void {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  body();
  report(name, ops, t0, c0);
}

async function measureAsync(name: string, ops: number, body: () => Promise<void>): Promise<void> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await body();
  report(name, ops, t0, c0);
}

function report(name: string, ops: number, t0: number, c0: NodeJS.CpuUsage): void {
  const c = process.cpuUsage(c0);
  const wallUs = ((performance.now() - t0) * 1000) / ops;
  process.stdout.write(`${name.padEnd(44)} ${wallUs.toFixed(2).padStart(7)} us wall  ${((c.user + c.system) / ops).toFixed(2).padStart(7)} us process CPU\n`);
}

const now = Date.now();
const payload = JSON.stringify({ type: 'price-update', sku: 'A-1', amount: 1250, currency: 'EUR', pad: 'x'.repeat(120) });
// 1,000 messages, timestamps shared by runs of 100 (one fan-out request's worth)
const messages: StoredMessage[] = Array.from({ length: 1_000 }, (_, k) => ({
  terminalId: `t-${k}`,
  seq: k + 1,
  messageId: randomUUID(),
  payload,
  createdAt: now + Math.floor(k / 100),
  expiresAt: now + 86_400_000 + Math.floor(k / 100),
}) as StoredMessage);

const timeline = new MemoryTimeline();
const terminals = Array.from({ length: 1_000 }, (_, k) => `t-${k}`);
let seq = 0;
function recordMessages(n: number): void {
  for (let k = 0; k < n; k++) {
    const terminalId = terminals[k % terminals.length]!;
    const messageId = randomUUID();
    seq++;
    timeline.record({ type: 'sent', terminalId, seq, messageId, at: Date.now(), gatewayId: 'gw-1' });
    timeline.record({ type: 'delivered', terminalId, seq, messageId, protocol: 'websocket', at: Date.now(), gatewayId: 'gw-1' });
    timeline.record({ type: 'acked', terminalId, seq, at: Date.now(), gatewayId: 'gw-1' });
  }
}
recordMessages(200_000); // fill every ring (200 events per terminal by default)

const secret = 'hot-path-bench-secret-0123456789abcdef';
const token = await mintTerminalToken(secret, 'terminal-0001');
const rawKey = new TextEncoder().encode(secret);
const cryptoKey = await crypto.subtle.importKey('raw', rawKey, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
/** `n` verifications, 64 at a time (a burst of connects). */
async function verifyAll(n: number, verify: () => Promise<unknown>): Promise<void> {
  for (let k = 0; k < n; k += 64) await Promise.all(Array.from({ length: 64 }, verify));
}

const histogramBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
const promChild = new Histogram({ name: 'h_prom', help: 'h', labelNames: ['op', 'store'], buckets: histogramBuckets, registers: [new Registry()] }).labels({ op: 'append', store: 'sqlite' });
const fastChild = new FastHistogram({ name: 'h_fast', help: 'h', labelNames: ['op', 'store'], buckets: histogramBuckets, registers: [new Registry()] }).labels({ op: 'append', store: 'sqlite' });
const latencies = Array.from({ length: 1_000 }, (_, k) => (k % 97) / 20_000); // 0-4.8 ms

let sink = 0;
for (let r = 1; r <= rounds; r++) {
  measure(`round ${r}: prom-client Histogram observe (bound child)`, 1_000_000, () => {
    for (let k = 0; k < 1_000; k++) for (const v of latencies) promChild.observe(v);
  });
  measure(`round ${r}: FastHistogram observe (bound series)`, 1_000_000, () => {
    for (let k = 0; k < 1_000; k++) for (const v of latencies) fastChild.observe(v);
  });
  await measureAsync(`round ${r}: verifyTerminalToken (fast-jwt)`, 12_800, () => verifyAll(12_800, () => verifyTerminalToken(secret, token)));
  await measureAsync(`round ${r}: jose jwtVerify, CryptoKey`, 12_800, () => verifyAll(12_800, () => jwtVerify(token, cryptoKey, { algorithms: ['HS256'] })));
  await measureAsync(`round ${r}: jose jwtVerify, raw secret`, 12_800, () => verifyAll(12_800, () => jwtVerify(token, rawKey, { algorithms: ['HS256'] })));
  measure(`round ${r}: messageFrame`, 300_000, () => {
    for (let k = 0; k < 300; k++) for (const m of messages) sink += messageFrame(m, undefined).encoded.length;
  });
  measure(`round ${r}: timeline, 3 events per message`, 300_000, () => recordMessages(300_000));
  measure(`round ${r}: randomUUID + loop alone (subtract)`, 300_000, () => {
    for (let k = 0; k < 300_000; k++) sink += randomUUID().length + Date.now() * 0;
  });
}
if (sink < 0) process.stdout.write('unreachable\n');
