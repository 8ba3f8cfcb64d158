import { closeSync, fdatasyncSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';

/**
 * Where the SQLite store's group commits run (PCM_SQLITE_WRITER):
 * - `inline`: on the gateway's event loop. No thread hand-off: a send waits for its commit
 *   only, and the main thread does the SQL work itself. The commit's fsync blocks the loop
 *   for as long as the disk takes.
 * - `thread`: in a worker thread (sqlite-writer-thread.ts). The fsync never blocks the loop,
 *   at the price of two thread hand-offs per commit and a structured clone of every group.
 * - `auto` (default): `inline` when the data directory's disk flushes fast (the median of a
 *   few 4 KiB write + fdatasync rounds at start is at most INLINE_MAX_FSYNC_MS), else
 *   `thread`. Fast: NVMe with power-loss protection, battery-backed controllers, most VM
 *   disks; slow: consumer SSDs flushing their cache, spinning disks, network block storage.
 */
export type SqliteWriterMode = 'auto' | 'inline' | 'thread';

/**
 * The fastest flush for which inline commits stay cheaper than the thread: above this, the
 * time every commit holds the event loop approaches the hand-offs the thread costs
 * (docs/storage.md has the measurements).
 */
export const INLINE_MAX_FSYNC_MS = 0.25;

/** Median fdatasync time (ms) of `rounds` 4 KiB appends to a scratch file in `dir` (removed after). */
export function probeFsyncMs(dir: string, rounds = 16): number {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `.pcm-fsync-probe-${process.pid}`);
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(4096, 0x5a);
  const times: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      writeSync(fd, block);
      const t0 = process.hrtime.bigint();
      fdatasyncSync(fd);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1]!;
}

export interface SqliteWriterChoice {
  writer: 'inline' | 'thread';
  /** Why, for the start-up log line. */
  reason: string;
  /** The probe's median fdatasync time, when `auto` measured it. */
  fsyncMs?: number;
}

/** Resolves PCM_SQLITE_WRITER for the data directory `dir` (only `auto` touches the disk). */
export function chooseSqliteWriter(mode: SqliteWriterMode, dir: string, probe: (dir: string) => number = probeFsyncMs): SqliteWriterChoice {
  if (mode !== 'auto') return { writer: mode, reason: `PCM_SQLITE_WRITER=${mode}` };
  let fsyncMs: number;
  try {
    fsyncMs = probe(dir);
  } catch (err) {
    // the store's own open reports an unusable data dir clearly; the thread is the safe side
    return { writer: 'thread', reason: `the fdatasync probe failed (${(err as Error).message}): commits run in a writer thread` };
  }
  const ms = Math.round(fsyncMs * 1000) / 1000;
  return fsyncMs <= INLINE_MAX_FSYNC_MS
    ? { writer: 'inline', fsyncMs, reason: `fdatasync takes ${ms} ms in the data dir, at most ${INLINE_MAX_FSYNC_MS} ms: commits run on the event loop` }
    : { writer: 'thread', fsyncMs, reason: `fdatasync takes ${ms} ms in the data dir, over ${INLINE_MAX_FSYNC_MS} ms: commits run in a writer thread so the flush never blocks the event loop` };
}
