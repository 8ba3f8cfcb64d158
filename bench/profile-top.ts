/**
 * Summarize a V8 .cpuprofile (from PCM_BENCH_CPU_PROF=<dir> pcm bench ...): self time per
 * function, top N, as "share  ms  function  file:line".
 *   npx tsx bench/profile-top.ts <file.cpuprofile> [--top 25]
 */
import { readFileSync } from 'node:fs';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }
const file = process.argv[2];
if (!file) throw new Error('usage: profile-top.ts <file.cpuprofile> [--top 25]');
const ti = process.argv.indexOf('--top');
const top = ti > 0 ? Number(process.argv[ti + 1]) : 25;
const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map<string, number>();
let total = 0;
prof.samples.forEach((id, i) => {
  const n = byId.get(id)!;
  const dt = prof.timeDeltas[i] ?? 0;
  const f = n.callFrame;
  const key = `${f.functionName || '(anonymous)'}  ${f.url.replace(/^.*\/main\//, '')}:${f.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + dt);
  total += dt;
});
const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
for (const [k, us] of rows) process.stdout.write(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}\n`);
