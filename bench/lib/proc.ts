/**
 * Child processes for benchmarks (issue 10: "load generators run in separate processes").
 * Every server and load generator is its own Node process so neither side's event loop
 * is the other's bottleneck, and each stays under the 20,000 open-files cap (DESIGN.md 6).
 * Parent <-> child speak request/reply over the IPC channel: `{id, cmd, args}` -> `{id, ok, result|error}`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const benchDir = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

export interface Child {
  name: string;
  proc: ChildProcess;
  ready: Record<string, unknown>;
  call<T = unknown>(cmd: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  kill(): Promise<void>;
}

/**
 * PCM_BENCH_CPU_PROF=<dir>: server children under bench/servers/ write a V8 CPU profile there
 * (open it in Chrome DevTools or summarize with bench/profile-top.ts).
 * PCM_BENCH_SERVER_NODE_ARGS="--trace-gc ...": extra node flags for those children only.
 */
function profileFlags(rel: string): string[] {
  if (!rel.startsWith('servers/')) return [];
  const dir = process.env.PCM_BENCH_CPU_PROF;
  const extra = process.env.PCM_BENCH_SERVER_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [];
  return [...(dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : []), ...extra];
}

/** Spawn `bench/<rel>` with tsx and --expose-gc; resolves once it sends `{event:'ready'}`. */
export async function spawnChild(name: string, rel: string, args: Record<string, unknown> = {}, opts: { startTimeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Child> {
  const proc = fork(path.join(benchDir, rel), [JSON.stringify(args)], {
    execArgv: ['--expose-gc', '--max-old-space-size=4096', '--import', 'tsx', ...profileFlags(rel)],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...opts.env },
  });
  let seq = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  let exited = false;
  const failAll = (why: string) => {
    for (const [, p] of pending) {
      clearTimeout(p.timer);
      p.reject(new Error(`${name}: ${why}`));
    }
    pending.clear();
  };
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${name} did not start within ${opts.startTimeoutMs ?? 30_000} ms`));
    }, opts.startTimeoutMs ?? 30_000);
    proc.on('message', (m: any) => {
      if (m?.event === 'ready') {
        clearTimeout(timer);
        resolve(m);
      } else if (typeof m?.id === 'number') {
        const p = pending.get(m.id);
        if (!p) return;
        pending.delete(m.id);
        clearTimeout(p.timer);
        if (m.ok) p.resolve(m.result);
        else p.reject(new Error(`${name}: ${m.error}`));
      }
    });
    proc.on('exit', (code, signal) => {
      exited = true;
      clearTimeout(timer);
      reject(new Error(`${name} exited before ready (code ${code}, signal ${signal})`));
      failAll(`exited (code ${code}, signal ${signal})`);
    });
  });
  return {
    name,
    proc,
    ready,
    call<T>(cmd: string, a: Record<string, unknown> = {}, timeoutMs = 120_000): Promise<T> {
      if (exited) return Promise.reject(new Error(`${name} has exited`));
      const id = ++seq;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${name}: ${cmd} timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
        proc.send({ id, cmd, args: a });
      });
    },
    async kill() {
      if (exited) return;
      const done = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      // a child writing a CPU profile at exit may need longer than a plain shutdown
      const t = setTimeout(() => proc.kill('SIGKILL'), process.env.PCM_BENCH_CPU_PROF ? 60_000 : 5_000);
      await done;
      clearTimeout(t);
    },
  };
}

/** Kill every child, ignoring ones already gone (used in `finally`). */
export async function killAll(children: (Child | undefined)[]): Promise<void> {
  await Promise.all(children.map((c) => c?.kill().catch(() => undefined)));
}

type Handler = (args: any) => unknown | Promise<unknown>;

/** Child side: parse argv[2] as JSON args, run `setup`, answer commands, exit on SIGTERM or parent loss. */
export async function serveChild(setup: (args: any) => Promise<{ ready?: Record<string, unknown>; handlers: Record<string, Handler>; close?: () => Promise<void> | void }>): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}');
  const { ready, handlers, close } = await setup(args);
  const stop = async () => {
    try {
      await Promise.race([close?.(), new Promise((r) => setTimeout(r, 3_000))]);
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGTERM', () => void stop());
  process.on('disconnect', () => void stop());
  process.on('message', async (m: any) => {
    const h = handlers[m.cmd];
    try {
      if (!h) throw new Error(`unknown command ${m.cmd}`);
      const result = await h(m.args ?? {});
      process.send!({ id: m.id, ok: true, result });
    } catch (err) {
      process.send!({ id: m.id, ok: false, error: (err as Error).message });
    }
  });
  process.send!({ event: 'ready', ...ready });
}

/** Resident set size after a full GC, in bytes (the child must run with --expose-gc). */
export async function memoryAfterGc(): Promise<{ rss: number; heapUsed: number; external: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 100));
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}
