/** Per-thread CPU accounting from /proc (Linux): what a CPU profile cannot show on two cores. */
import { readFileSync, readdirSync } from 'node:fs';

const TICKS_PER_SEC = 100; // USER_HZ

/** thread id -> [cpu seconds (utime+stime), run seconds, run-queue wait seconds] */
export function threadTimes(pid: number): Map<string, [number, number, number]> {
  const out = new Map<string, [number, number, number]>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number);
      out.set(tid, [(Number(f[11]) + Number(f[12])) / TICKS_PER_SEC, run! / 1e9, wait! / 1e9]);
    } catch {
      /* thread ended meanwhile */
    }
  }
  return out;
}

/** A thread's name as the kernel knows it (`node`, `V8 Worker`, `libuv-worker`, a worker's name...). */
export function threadName(pid: number, tid: string): string {
  try {
    return readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** Thread times of every process, in order (before and after a measured phase). */
export function snapshot(procs: readonly [string, { proc: { pid?: number } }][]): Map<string, [number, number, number]>[] {
  return procs.map(([, c]) => threadTimes(c.proc.pid!));
}

/**
 * Prints, per process, every thread busy at least 2 % of `secs` (busy share, run-queue wait
 * share, run-time us per message) and the process's CPU share and CPU us per message.
 */
export function reportThreads(
  procs: readonly [string, { proc: { pid?: number } }][],
  before: Map<string, [number, number, number]>[],
  after: Map<string, [number, number, number]>[],
  secs: number,
  messages: number,
): void {
  procs.forEach(([name, child], k) => {
    let cpu = 0;
    for (const [tid, [c, runS, waitS]] of after[k]!) {
      const [c0, run0, wait0] = before[k]!.get(tid) ?? [0, 0, 0];
      cpu += c - c0;
      const busy = (runS - run0) / secs;
      if (busy >= 0.02) {
        process.stdout.write(`  ${name} thread ${tid} (${threadName(child.proc.pid!, tid)}): busy ${(busy * 100).toFixed(0)} %, waiting for a CPU ${(((waitS - wait0) / secs) * 100).toFixed(0)} %, ${(((runS - run0) * 1e6) / messages).toFixed(1)} us per message\n`);
      }
    }
    process.stdout.write(`  ${name}: ${((cpu / secs) * 100).toFixed(0)} % of a core, ${((cpu * 1e6) / messages).toFixed(1)} us of CPU per message\n`);
  });
}
