/**
 * Store bench (issue 4 "Benchmark"; DESIGN.md sections 2 and 4): appends per second and
 * drain rate of each MessageStore adapter, side by side in one run:
 * - memory: the in-process reference (an upper bound: no I/O, not durable);
 * - sqlite FULL (the default: WAL fsynced per commit) and sqlite NORMAL (WAL, no fsync);
 * - couchbase against CouchbaseMock from the test bed, when it runs.
 *
 *   npx tsx bench/store.bench.ts [--appends 2000] [--drain 2000] [--concurrency 50] [--terminals 20]
 *
 * CouchbaseMock is a Java test double, not a Couchbase Server: its numbers show what the
 * adapter's KV round trips cost against a local in-memory peer, not production throughput.
 * Bounded: --appends per store (default 2,000), --drain messages (default 2,000), 60 s cap
 * per phase. Writes bench/results/store-<timestamp>.json and prints a markdown table.
 *
 * Phases per store:
 * - append: --appends messages spread over --terminals terminals, --concurrency in flight
 *   (senders hitting the API at once); latency = one append() call.
 * - drain: one terminal with --drain pending messages, read like the delivery engine does:
 *   pending(limit 250) then ack(last seq) until empty; rate = messages read and acked per second.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { CouchbaseMessageStore } from '../gateway/adapters/couchbase/couchbase-store.js';
import { MemoryMessageStore } from '../gateway/adapters/memory/memory-store.js';
import { SqliteMessageStore } from '../gateway/adapters/sqlite/sqlite-store.js';
import type { MessageStore } from '../gateway/ports/message-store.js';
import { readServicesEnv, repoRoot } from '../test/services/env.js';

interface Row {
  store: string;
  appends: number;
  appendsPerSec: number;
  appendP50Ms: number;
  appendP99Ms: number;
  drained: number;
  drainPerSec: number;
  note: string;
}

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i > 0 ? Number(process.argv[i + 1]) : def;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} must be a positive integer`);
  return v;
}

const APPENDS = arg('appends', 2_000);
const DRAIN = arg('drain', 2_000);
const CONCURRENCY = arg('concurrency', 50);
const TERMINALS = arg('terminals', 20);
const PHASE_CAP_MS = 60_000;
const payload = JSON.stringify({ type: 'price-update', sku: 'A-1', amount: 1250, currency: 'EUR', pad: 'x'.repeat(200) });

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Runs `count` jobs with `concurrency` in flight, stopping early at the phase cap. */
async function pool(count: number, concurrency: number, job: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const deadline = performance.now() + PHASE_CAP_MS;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count && performance.now() < deadline) await job(next++);
    }),
  );
  return Math.min(next, count);
}

async function benchStore(name: string, store: MessageStore, note: string): Promise<Row> {
  const run = randomUUID().slice(0, 8);
  const lat: number[] = [];
  const t0 = performance.now();
  const done = await pool(APPENDS, CONCURRENCY, async (i) => {
    const s = performance.now();
    await store.append({ terminalId: `bench-${run}-${i % TERMINALS}`, payload, ttlSeconds: 3600, messageId: `a${i}` }, Date.now());
    lat.push(performance.now() - s);
  });
  const appendSecs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);

  // Fill one terminal (not timed), then drain it the way the delivery engine does.
  const t = `bench-${run}-drain`;
  await pool(DRAIN, CONCURRENCY, async (i) => {
    await store.append({ terminalId: t, payload, ttlSeconds: 3600, messageId: `d${i}` }, Date.now());
  });
  const d0 = performance.now();
  let drained = 0;
  let expected = 1;
  while (performance.now() - d0 < PHASE_CAP_MS) {
    const page = await store.pending(t, { limit: 250, now: Date.now() });
    if (page.length === 0) break;
    for (const m of page) if (m.seq !== expected++) throw new Error(`${name}: drain out of order at seq ${m.seq}`);
    drained += page.length;
    await store.ack(t, page[page.length - 1]!.seq);
  }
  const drainSecs = (performance.now() - d0) / 1000;
  return {
    store: name,
    appends: done,
    appendsPerSec: Math.round(done / appendSecs),
    appendP50Ms: +quantile(lat, 0.5).toFixed(2),
    appendP99Ms: +quantile(lat, 0.99).toFixed(2),
    drained,
    drainPerSec: Math.round(drained / drainSecs),
    note,
  };
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const dir = mkdtempSync(path.join(tmpdir(), 'pcm-store-bench-'));
  try {
    const mem = new MemoryMessageStore();
    rows.push(await benchStore('memory', mem, 'reference: no I/O, not durable'));
    await mem.close();
    for (const sync of ['FULL', 'NORMAL'] as const) {
      const s = new SqliteMessageStore({ file: path.join(dir, `bench-${sync}.db`), synchronous: sync, sweepIntervalMs: 0 });
      rows.push(await benchStore(`sqlite ${sync}`, s, sync === 'FULL' ? 'default: fsync per commit' : 'survives kill -9, not power loss'));
      await s.close();
    }
    const env = { ...readServicesEnv(), ...process.env };
    if (env.PCM_TEST_COUCHBASE_CONNSTR) {
      const cb = await CouchbaseMessageStore.connect({
        connectionString: env.PCM_TEST_COUCHBASE_CONNSTR,
        bucket: env.PCM_TEST_COUCHBASE_BUCKET ?? 'pcm',
        username: env.PCM_TEST_COUCHBASE_USERNAME ?? 'Administrator',
        password: env.PCM_TEST_COUCHBASE_PASSWORD ?? 'password',
      });
      rows.push(await benchStore('couchbase (mock)', cb, 'CouchbaseMock is a Java test double, not a server'));
      await cb.close();
    } else {
      console.warn('couchbase: skipped (start it with: npm run services -- up couchbase)');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const header = '| store | appends/s | append p50 ms | append p99 ms | drain msg/s | note |';
  const lines = [header, '| --- | ---: | ---: | ---: | ---: | --- |'];
  for (const r of rows) lines.push(`| ${r.store} | ${r.appendsPerSec} | ${r.appendP50Ms} | ${r.appendP99Ms} | ${r.drainPerSec} | ${r.note} |`);
  console.log(`\nstore bench: ${APPENDS} appends (${CONCURRENCY} in flight, ${TERMINALS} terminals), drain of ${DRAIN} (pages of 250 + ack)\n`);
  console.log(lines.join('\n'));
  const outDir = path.join(repoRoot, 'bench/results');
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `store-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify({ at: new Date().toISOString(), node: process.version, appends: APPENDS, drain: DRAIN, concurrency: CONCURRENCY, terminals: TERMINALS, rows }, null, 2) + '\n',
  );
  console.log(`\nwritten to ${path.relative(repoRoot, file)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
