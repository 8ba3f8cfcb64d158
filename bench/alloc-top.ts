/**
 * Summarizes a sampling allocation profile (bench/delivery-cpu.ts --alloc, or the gateway bench
 * child's `allocStart`/`allocStop`): bytes allocated per function, self and inclusive, divided by
 * the number of messages of the measured phase.
 *
 *   npx tsx bench/alloc-top.ts <file.heapprofile> <messages> [--top 40]
 *
 * Sampled (one sample per 4 KB by default), so small entries move between runs; compare totals
 * and the large entries.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

const HELP = 'usage: npx tsx bench/alloc-top.ts <file.heapprofile> <messages> [--top 40]';
const [file, msgArg] = process.argv.slice(2);
if (!file || file === '--help' || file === '-h') {
  process.stdout.write(`${HELP}\n`);
  process.exit(file ? 0 : 1);
}
const perMessage = Number(msgArg ?? 1);
if (!Number.isFinite(perMessage) || perMessage <= 0) throw new Error(`messages must be a positive number\n${HELP}`);
const topIdx = process.argv.indexOf('--top');
const top = topIdx > 0 ? Number(process.argv[topIdx + 1]) : 40;

const profile = JSON.parse(readFileSync(file, 'utf8')) as { head: ProfileNode };
const name = (n: ProfileNode) =>
  `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/.*node_modules\//, '').replace(/^file:\/\/.*?\/(gateway|common|protocol|bench)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;
const self = new Map<string, number>();
const inclusive = new Map<string, number>();
let total = 0;
function walk(n: ProfileNode, onStack: Set<string>): number {
  const key = name(n);
  let sub = n.selfSize;
  self.set(key, (self.get(key) ?? 0) + n.selfSize);
  total += n.selfSize;
  const entered = !onStack.has(key);
  if (entered) onStack.add(key);
  for (const c of n.children) sub += walk(c, onStack);
  if (entered) {
    onStack.delete(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + sub);
  }
  return sub;
}
walk(profile.head, new Set());

const line = (bytes: number, key: string) => `${(bytes / perMessage).toFixed(0).padStart(8)} B  ${key}`;
process.stdout.write(`${(total / 1e6).toFixed(1)} MB allocated, ${(total / perMessage).toFixed(0)} B per message\n\nself:\n`);
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${line(v, k)}\n`);
process.stdout.write('\ninclusive:\n');
for (const [k, v] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${line(v, k)}\n`);
