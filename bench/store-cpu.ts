/**
 * CPU per append of the SQLite store on the calling thread (the inline writer, as the gateway
 * runs it when its disk flushes fast): what the store's own work costs, without HTTP or sockets.
 *
 *   npx tsx bench/store-cpu.ts [append|ack] [--duration 4000] [--writer inline|thread]
 *
 * 64 concurrent senders append to 1,000 terminals in a scattered order (a fresh SQLite file,
 * FULL); `ack` also acks each message right after its append (the table stays small, as when
 * terminals are online). Warms up for 1 s, then measures --duration ms: operations per second
 * and process CPU microseconds (user + system) per operation. With `--writer thread` the CPU
 * includes the writer thread's. Bounded: one phase of --duration ms. Prints one line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SqliteMessageStore } from '../gateway/adapters/sqlite/sqlite-store.js';
import { toolArgs } from './lib/tool-args.js';

const HELP = 'usage: npx tsx bench/store-cpu.ts [append|ack] [--duration 4000] [--writer inline|thread]';
const args = toolArgs(HELP);
const mode = args.mode(['append', 'ack'] as const, 'append');
const durationMs = args.count('duration', 4000, 1);
const writer = args.choice('writer', ['inline', 'thread'] as const, 'inline');

const SENDERS = 64;
const TERMINALS = 1000;
const dir = mkdtempSync(path.join(tmpdir(), 'pcm-store-cpu-'));
const store = new SqliteMessageStore({ file: path.join(dir, 'messages.db'), synchronous: 'FULL', sweepIntervalMs: 0, writerThread: writer === 'thread' });
let ops = 0;
async function phase(ms: number): Promise<void> {
  const end = Date.now() + ms;
  await Promise.all(
    Array.from({ length: SENDERS }, async (_, w) => {
      for (let i = 0; Date.now() < end; i++) {
        const terminalId = `t-${(w * 7919 + i * 31) % TERMINALS}`;
        const r = await store.append({ terminalId, payload: '{"amount":1234,"currency":"EUR","ref":"abcdefgh"}', ttlSeconds: 600, messageId: `m-${w}-${i}` }, Date.now());
        if (mode === 'ack') await store.ack(terminalId, r.message.seq);
        ops++;
      }
    }),
  );
}
try {
  await phase(1000);
  ops = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await phase(durationMs);
  const c = process.cpuUsage(c0);
  const secs = (performance.now() - t0) / 1000;
  const what = mode === 'ack' ? 'append+ack pairs' : 'appends';
  process.stdout.write(`${writer} writer, ${SENDERS} senders over ${TERMINALS} terminals: ${Math.round(ops / secs)} ${what}/s, ${((c.user + c.system) / ops).toFixed(1)} us CPU each (system ${(c.system / ops).toFixed(1)})\n`);
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
