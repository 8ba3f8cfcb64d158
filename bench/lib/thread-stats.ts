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
