/**
 * The runtime import graph of the image: every module reachable from bin/pcm.ts by static
 * imports, re-exports and literal dynamic imports. The image is broken if any of them points
 * at a file the image does not ship or a package that is not a production dependency, even
 * when the code path is rare (a dynamic import only fails when it runs).
 */
import { builtinModules } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const IMPORT_RE =
  /(?:^|[;\s])(import|export)\s+(type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

export interface ImportProblem {
  from: string;
  specifier: string;
  problem: string;
}

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

/** Specifiers a module loads at run time (type-only imports are erased by tsx/esbuild). */
export function runtimeSpecifiers(src: string): string[] {
  const out: string[] = [];
  for (const m of stripComments(src).matchAll(IMPORT_RE)) {
    if (m[4]) {
      out.push(m[4]);
      continue;
    }
    if (m[2]) continue; // import type / export type
    const stmt = m[0];
    // `import { type A, type B } from 'x'` is erased as a whole.
    const braces = /\{([^}]*)\}/.exec(stmt);
    if (braces && !/\*|^\s*(import|export)\s+\w+\s*,/.test(stmt) && braces[1]!.split(',').every((s) => s.trim() === '' || s.trim().startsWith('type '))) continue;
    out.push(m[3]!);
  }
  return out;
}

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/** Walks the graph inside `root` from `entry`; returns the visited files and the problems. */
export function checkImports(root: string, entry: string): { files: string[]; packages: string[]; problems: ImportProblem[] } {
  const builtins = new Set(builtinModules);
  const seen = new Set<string>();
  const packages = new Set<string>();
  const problems: ImportProblem[] = [];
  const queue = [path.resolve(root, entry)];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const rel = path.relative(root, file);
    for (const spec of runtimeSpecifiers(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('node:') || builtins.has(spec)) continue;
      if (spec.startsWith('.')) {
        const target = path.resolve(path.dirname(file), spec);
        const candidates = [target, target.replace(/\.js$/, '.ts'), target.replace(/\.mjs$/, '.mts')];
        const hit = candidates.find((c) => existsSync(c) && !c.endsWith('.json') === true) ?? candidates.find((c) => existsSync(c));
        if (!hit) problems.push({ from: rel, specifier: spec, problem: 'file not in the image' });
        else if (/\.(ts|mts|js|mjs)$/.test(hit)) queue.push(hit);
        continue;
      }
      const name = packageName(spec);
      packages.add(name);
      if (!existsSync(path.join(root, 'node_modules', name, 'package.json'))) {
        problems.push({ from: rel, specifier: spec, problem: `package "${name}" is not a production dependency in the image` });
      }
    }
  }
  return { files: [...seen].map((f) => path.relative(root, f)).sort(), packages: [...packages].sort(), problems };
}
