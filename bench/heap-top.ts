/**
 * Summarizes a V8 heap snapshot (`.heapsnapshot`, e.g. from the bench gateway's `heap` IPC
 * command or Chrome DevTools) by constructor: object count and total self size, largest first.
 * With two snapshots (before, after) it prints the difference, divided by `--per N` if given:
 * what each of N connections added.
 *   npx tsx bench/heap-top.ts after.heapsnapshot [before.heapsnapshot] [--per 2000] [--top 40]
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

function summarize(file: string): Map<string, { count: number; size: number }> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const w = fields.length;
  const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const out = new Map<string, { count: number; size: number }>();
  for (let i = 0; i < snap.nodes.length; i += w) {
    const type = types[snap.nodes[i + iType!]!]!;
    const name = type === 'object' || type === 'closure' ? snap.strings[snap.nodes[i + iName!]!]! : `(${type})`;
    const key = type === 'closure' ? `closure ${name}` : name;
    const e = out.get(key) ?? { count: 0, size: 0 };
    e.count++;
    e.size += snap.nodes[i + iSize!]!;
    out.set(key, e);
  }
  return out;
}

const args = process.argv.slice(2);
const opt = (name: string, d: number) => {
  const i = args.indexOf(name);
  if (i < 0) return d;
  const v = Number(args[i + 1]);
  args.splice(i, 2);
  return v;
};
const per = opt('--per', 1);
const top = opt('--top', 40);
if (args.length === 0 || args.includes('--help')) {
  console.log('usage: npx tsx bench/heap-top.ts after.heapsnapshot [before.heapsnapshot] [--per N] [--top K]');
  process.exit(args.length === 0 ? 1 : 0);
}
const after = summarize(args[0]!);
const before = args[1] ? summarize(args[1]) : new Map<string, { count: number; size: number }>();
const rows = [...after].map(([k, a]) => {
  const b = before.get(k) ?? { count: 0, size: 0 };
  return { k, count: (a.count - b.count) / per, size: (a.size - b.size) / per };
});
rows.sort((x, y) => y.size - x.size);
let total = 0;
for (const r of rows) total += r.size;
console.log(`total self size${per > 1 ? ` per ${per === 1 ? 'snapshot' : 'unit'}` : ''}: ${Math.round(total)} B`);
for (const r of rows.slice(0, top)) console.log(`${Math.round(r.size).toString().padStart(10)} B ${r.count.toFixed(2).padStart(9)} x  ${r.k}`);
