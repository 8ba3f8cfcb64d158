/**
 * SQLite messages-table layout bench: the append-ordered rowid table (files created since
 * 2026-11-27) vs the older WITHOUT ROWID table keyed by (terminal_id, seq), both written by
 * the real SqliteStoreCore (the writer thread's code), synchronous=FULL, in one run.
 *
 *   npx tsx bench/sqlite-layout.bench.ts [--appends 60000] [--group 24] [--terminals 1000]
 *
 * Two patterns, each group = one transaction (one fsync), appends round-robin over the
 * terminals like the `http` scenario's sends:
 * - backlog: terminals offline, messages pile up (the table grows to --appends rows);
 * - online: each group also acks what the group before it appended (the table stays small,
 *   like the `throughput` scenario).
 * Reported: appends per second (wall, one thread), CPU microseconds per append (user+sys of
 * the process), and the ratio new / old. Bounded: --appends per row (default 60,000).
 * Writes bench/results/sqlite-layout.json and .svg and prints the table.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStoreCore, type WriteBatch } from '../gateway/adapters/sqlite/sqlite-core.js';
import { BENCH_PAYLOAD } from './lib/secrets.js';
import { machineInfo } from './lib/machine.js';
import { formatResult, writeResult, type ResultRow, type ScenarioResult } from './lib/result.js';
import { ratio } from './lib/stats.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const appends = arg('appends', 60_000);
const group = arg('group', 24);
const terminals = arg('terminals', 1_000);
const payload = JSON.stringify(BENCH_PAYLOAD);

const OLD_LAYOUT = `CREATE TABLE messages (terminal_id TEXT NOT NULL, seq INTEGER NOT NULL, message_id TEXT NOT NULL, payload TEXT NOT NULL,
  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, correlation_id TEXT, collapse_key TEXT, PRIMARY KEY (terminal_id, seq)) WITHOUT ROWID`;

function run(layout: 'rowid' | 'without rowid', pattern: 'backlog' | 'online'): { perSec: number; cpuUs: number } {
  const dir = mkdtempSync(path.join(tmpdir(), 'pcm-layout-'));
  try {
    const file = path.join(dir, 'store.db');
    if (layout === 'without rowid') {
      const db = new Database(file);
      db.exec(OLD_LAYOUT); // what a file created before the rowid layout holds
      db.close();
    }
    const core = new SqliteStoreCore({ file, synchronous: 'FULL' });
    let prev: { terminalId: string; seq: number }[] = [];
    const now = Date.now();
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < appends; ) {
      const batch: WriteBatch = { appends: [], acks: pattern === 'online' ? prev : [], creates: [] };
      for (let k = 0; k < group && i < appends; k++, i++) {
        batch.appends.push({ msg: { terminalId: `t-${i % terminals}`, payload, ttlSeconds: 3600, messageId: `m-${i}` }, now });
      }
      const [r] = core.writeMany([batch]);
      prev = r!.appends.map((a) => ({ terminalId: a.message.terminalId, seq: a.message.seq }));
    }
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    core.close();
    return { perSec: (appends / ms) * 1000, cpuUs: (cpu.user + cpu.system) / appends };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const started = Date.now();
const rows: ResultRow[] = [];
const ratios: ScenarioResult['ratios'] = [];
for (const pattern of ['backlog', 'online'] as const) {
  const old = run('without rowid', pattern);
  const now = run('rowid', pattern);
  process.stderr.write(`[bench] sqlite-layout ${pattern}: rowid ${Math.round(now.perSec)}/s ${now.cpuUs.toFixed(1)} us, without rowid ${Math.round(old.perSec)}/s ${old.cpuUs.toFixed(1)} us\n`);
  rows.push({ name: `${pattern}: WITHOUT ROWID (older files)`, role: 'baseline', metrics: { appendsPerSec: Math.round(old.perSec), cpuUsPerAppend: old.cpuUs } });
  rows.push({ name: `${pattern}: rowid + messages_key (new files)`, role: 'pcm', metrics: { appendsPerSec: Math.round(now.perSec), cpuUsPerAppend: now.cpuUs } });
  ratios.push({ name: `${pattern}: appends/s rowid / WITHOUT ROWID`, value: ratio(now.perSec, old.perSec) });
}
const result: ScenarioResult = {
  scenario: 'sqlite-layout',
  title: 'SQLite messages table layout',
  at: new Date().toISOString(),
  quick: false,
  durationMs: Date.now() - started,
  machine: machineInfo(),
  params: { appends, group, terminals, synchronous: 'FULL', payloadBytes: payload.length },
  rows,
  ratios,
  chartMetric: 'appendsPerSec',
  notes: [
    'One thread, SqliteStoreCore.writeMany (the writer thread\'s code), one transaction + fsync per group.',
    'backlog: offline terminals, the table grows; online: each group acks the previous group (the table stays small).',
  ],
};
writeResult(result);
process.stdout.write(formatResult(result) + '\n');
