/**
 * Relay bench (issue 5 "Numbers"; DESIGN.md section 3): relay records consumed per message
 * with 1, 3 and 6 gateways, PCM's addressed routing vs the seed system's broadcast, plus the
 * relay hop latency (send -> owner's handler, p50/p99) that a cross-gateway delivery adds.
 *
 *   npx tsx bench/relay.bench.ts [--part all|counts|latency] [--relay kafka|inprocess] [--messages N] [--rate 500] [--gateways 1,3,6] [--store sqlite|couchbase]
 * Default --part all: the counts below, then (Kafka only) the latency part, in one run.
 *
 * --part latency (bench/relay-latency.ts): two real gateway processes on Kafka and a shared
 * store; one terminal on gateway A; POST /messages alternately to A (same-gateway) and B
 * (cross-gateway); latency = POST sent -> message frame at the terminal; p50/p99 of each.
 *
 * Kafka brokers come from PCM_KAFKA_BROKERS or the test bed (`npm run services -- up kafka`).
 * Bounded: messages per run (default 1,000) x 6 runs, paced at --rate msg/s, 60 s cap per run.
 * Writes bench/results/relay-<relay>-<timestamp>.json and prints a markdown table.
 *
 * Model: T terminals, each owned by one gateway (terminal i on gateway i mod N); every message
 * enters at a gateway picked by a seeded PRNG (a load balancer in front of the sender API).
 * - pcm: owner == entry gateway -> local push, no relay record; else send(owner) (1 record).
 * - broadcast (seed): every message is published to the shared topic and every gateway
 *   reads it (the sender reads its own record back and skips it; still a fetched record).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { createLogger } from '../common/logger.js';
import { InProcessRelayHub } from '../gateway/adapters/inprocess/inprocess-relay.js';
import { KafkaRelayBus, type KafkaRelayStats } from '../gateway/adapters/kafka/kafka-relay.js';
import type { RelayBus, RelayEvent } from '../gateway/ports/relay-bus.js';
import { readServicesEnv, repoRoot } from '../test/services/env.js';
import { latencyMain } from './relay-latency.js';

type Mode = 'pcm' | 'broadcast';

interface RunResult {
  relay: string;
  mode: Mode;
  gateways: number;
  messages: number;
  crossGateway: number;
  recordsConsumed: number;
  recordsPerMessage: number;
  recordsPerCrossMessage: number;
  maxPerGateway: number;
  hopP50Ms: number;
  hopP99Ms: number;
  durationMs: number;
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}

/** mulberry32: a seeded PRNG so every run routes the same messages the same way. */
function prng(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN);
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

interface Fabric {
  name: string;
  newBus(): RelayBus;
  /** Records each gateway's consumer read (handled + own broadcasts skipped). */
  fetched(bus: RelayBus): number;
  teardown(): Promise<void>;
}

function inprocessFabric(): Fabric {
  const hub = new InProcessRelayHub();
  const logger = createLogger('bench', 'error');
  return {
    name: 'inprocess',
    newBus: () => hub.bus({ logger }),
    // The hub does not hand a gateway its own broadcast (N-1 per broadcast); on Kafka the
    // sender's consumer reads its own record back from the shared topic (N per broadcast).
    fetched: (bus) => bus.stats!().consumed,
    teardown: async () => {},
  };
}

function kafkaFabric(brokers: string[]): Fabric {
  const prefix = `pcmbench-${randomUUID().slice(0, 8)}`;
  const logger = createLogger('bench', 'error');
  return {
    name: 'kafka',
    newBus: () => new KafkaRelayBus({ brokers, topicPrefix: prefix, logger, startTimeoutMs: 60_000 }),
    fetched: (bus) => {
      const s = bus.stats!() as KafkaRelayStats;
      return s.consumed + s.skippedOwnBroadcast;
    },
    teardown: async () => {
      const admin = new Kafka({ clientId: 'pcm-bench-cleanup', brokers, logLevel: logLevel.NOTHING }).admin();
      try {
        await admin.connect();
        const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`));
        if (topics.length) await admin.deleteTopics({ topics });
      } finally {
        await admin.disconnect();
      }
    },
  };
}

async function runOnce(fabric: Fabric, mode: Mode, n: number, messages: number, rate: number): Promise<RunResult> {
  const terminals = 60;
  const ids = Array.from({ length: n }, (_, i) => `g${i + 1}`);
  const sentAt = new Map<string, number>();
  const hops: number[] = [];
  let expected = 0;
  let arrived = 0;
  const buses = ids.map(() => fabric.newBus());
  const owner = (t: number) => ids[t % n]!;
  await Promise.all(
    buses.map((bus, gi) =>
      bus.start(ids[gi]!, (ev: RelayEvent) => {
        if (ev.kind !== 'deliver') return;
        // Only the owner pushes to the terminal; in broadcast mode the others drop it.
        if (owner(Number(ev.message.terminalId.slice(2))) !== ids[gi]) return;
        const t0 = sentAt.get(ev.message.messageId);
        if (t0 !== undefined) {
          hops.push(performance.now() - t0);
          sentAt.delete(ev.message.messageId);
          arrived++;
        }
      }),
    ),
  );
  const random = prng(42);
  const started = performance.now();
  const interval = 1000 / rate;
  let crossGateway = 0;
  const pending: Array<Promise<void>> = [];
  for (let i = 0; i < messages; i++) {
    const t = i % terminals;
    const entry = Math.floor(random() * n);
    const ev: RelayEvent = {
      kind: 'deliver',
      from: ids[entry]!,
      epoch: 'bench',
      message: { terminalId: `t-${t}`, seq: i + 1, messageId: `m${i}`, payload: '{"amount":1250,"currency":"EUR"}', createdAt: Date.now(), expiresAt: Date.now() + 60_000 },
    };
    const isLocal = owner(t) === ids[entry];
    if (!isLocal) crossGateway++;
    if (mode === 'pcm') {
      if (!isLocal) {
        expected++;
        sentAt.set(ev.message.messageId, performance.now());
        pending.push(buses[entry]!.send(owner(t), ev));
      }
    } else {
      // Seed style: everything goes to the shared topic; the owner picks it up (even its own).
      if (!isLocal) {
        expected++;
        sentAt.set(ev.message.messageId, performance.now());
      }
      pending.push(buses[entry]!.broadcast(ev));
    }
    const due = started + (i + 1) * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  }
  await Promise.all(pending);
  const deadline = Date.now() + 60_000;
  while (arrived < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  // Let any stray record land before counting (a bystander read would show up here).
  await new Promise((r) => setTimeout(r, fabric.name === 'kafka' ? 1_000 : 50));
  const perGateway = buses.map((b) => fabric.fetched(b));
  const durationMs = performance.now() - started;
  await Promise.all(buses.map((b) => b.close()));
  if (arrived < expected) throw new Error(`${mode} N=${n}: only ${arrived}/${expected} cross-gateway deliveries arrived`);
  const total = perGateway.reduce((a, b) => a + b, 0);
  hops.sort((a, b) => a - b);
  return {
    relay: fabric.name,
    mode,
    gateways: n,
    messages,
    crossGateway,
    recordsConsumed: total,
    recordsPerMessage: round(total / messages, 3),
    recordsPerCrossMessage: crossGateway ? round(total / crossGateway, 3) : 0,
    maxPerGateway: Math.max(...perGateway),
    hopP50Ms: round(pct(hops, 50)),
    hopP99Ms: round(pct(hops, 99)),
    durationMs: Math.round(durationMs),
  };
}

async function main(): Promise<void> {
  const part = arg('part', 'all');
  if (part === 'latency') return latencyMain();
  await countsMain();
  if (part === 'all' && arg('relay', 'kafka') === 'kafka') await latencyMain();
}

async function countsMain(): Promise<void> {
  const relay = arg('relay', 'kafka');
  const messages = Number(arg('messages', '1000'));
  const rate = Number(arg('rate', '500'));
  const counts = arg('gateways', '1,3,6').split(',').map(Number);
  if (!(messages > 0 && messages <= 20_000)) throw new Error('--messages must be 1..20000');
  let fabricFor: () => Fabric;
  if (relay === 'inprocess') fabricFor = inprocessFabric;
  else {
    const brokers = (process.env.PCM_KAFKA_BROKERS ?? readServicesEnv().PCM_TEST_KAFKA_BROKERS ?? '').split(',').filter(Boolean);
    if (!brokers.length) throw new Error('no Kafka: set PCM_KAFKA_BROKERS or run `npm run services -- up kafka`');
    fabricFor = () => kafkaFabric(brokers);
  }
  const results: RunResult[] = [];
  for (const n of counts) {
    for (const mode of ['pcm', 'broadcast'] as Mode[]) {
      const fabric = fabricFor();
      try {
        const r = await runOnce(fabric, mode, n, messages, rate);
        results.push(r);
        console.error(`done: ${relay} ${mode} N=${n}: ${r.recordsPerMessage} records/message, hop p50 ${r.hopP50Ms} ms p99 ${r.hopP99Ms} ms`);
      } finally {
        await fabric.teardown().catch(() => {});
      }
    }
  }
  const lines = [
    `Relay bench (${relay}): ${messages} messages per run at ${rate} msg/s, 60 terminals spread over the gateways, entry gateway uniform at random.`,
    '',
    '| gateways | routing | cross-gateway msgs | relay records consumed | per message | per cross-gateway message | max on one gateway | relay hop p50 (ms) | p99 (ms) |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...results.map(
      (r) =>
        `| ${r.gateways} | ${r.mode === 'pcm' ? 'PCM addressed' : 'seed broadcast'} | ${r.crossGateway} | ${r.recordsConsumed} | ${r.recordsPerMessage} | ${r.crossGateway ? r.recordsPerCrossMessage : '-'} | ${r.maxPerGateway} | ${isNaN(r.hopP50Ms) ? '-' : r.hopP50Ms} | ${isNaN(r.hopP99Ms) ? '-' : r.hopP99Ms} |`,
    ),
  ];
  console.log(lines.join('\n'));
  const dir = path.join(repoRoot, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `relay-${relay}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ bench: 'relay', relay, messages, rate, node: process.version, results }, null, 2) + '\n');
  console.error(`wrote ${path.relative(repoRoot, file)}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
