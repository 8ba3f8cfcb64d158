/**
 * The PCM image, checked without a Docker engine (issue 7; none runs on this machine, so the
 * image itself is not built here: docs/image.md). Two halves:
 *  - lint: the Dockerfile's structure (multi-stage, production deps only, non-root numeric
 *    USER, no ADD, pinned bases, exact ENTRYPOINT, HEALTHCHECK decided) and its COPY sources;
 *  - layout: the runtime stage's files are built into a temp dir by following the Dockerfile
 *    (test/image/layout.ts) and `node bin/pcm.js` must run there with production deps only.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../services/env.js';
import { parseDockerfile, findStage, type Instruction, type Stage } from './dockerfile.js';
import { DockerIgnore } from './dockerignore.js';
import { ImageLayout, lockPackages } from './layout.js';
import { checkImports, runtimeSpecifiers } from './imports.js';

const dockerfileText = readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
const df = parseDockerfile(dockerfileText);
const finalStage = df.stages[df.stages.length - 1]!;
const all = (s: Stage, kw: string): Instruction[] => s.instructions.filter((i) => i.keyword === kw);
const runs = (s: Stage): string[] => all(s, 'RUN').map((i) => (i.json ? i.args.join(' ') : i.raw));
/** The roles the chart and the operator start from this image (DESIGN.md section 1). */
const ROLES = ['operator', 'gateway', 'discovery'];

describe('test/image helpers', () => {
  it('dockerignore follows Docker semantics (root-anchored, ** spans dirs, ! re-includes, last match wins)', () => {
    const ig = new DockerIgnore('# c\n*.log\n**/*.test.ts\ntest\n!test/keep.txt\ndocs/\n/data\n');
    expect(ig.ignores('a.log')).toBe(true);
    expect(ig.ignores('sub/a.log')).toBe(false); // no implicit **/ in .dockerignore
    expect(ig.ignores('gateway/core/x.test.ts')).toBe(true);
    expect(ig.ignores('x.test.ts')).toBe(true);
    expect(ig.ignores('gateway/core/x.ts')).toBe(false);
    expect(ig.ignores('test/a/b.ts')).toBe(true);
    expect(ig.ignores('test/keep.txt')).toBe(false);
    expect(ig.ignores('docs/helm.md')).toBe(true);
    expect(ig.ignores('data/x.db')).toBe(true);
    expect(ig.ignores('testing/x')).toBe(false);
  });

  it('the parser joins continuations, reads flags, JSON forms and ARG defaults', () => {
    const d = parseDockerfile('# syntax=docker/dockerfile:1\nARG V=20\nFROM node:${V}-slim AS b\nRUN a \\\n  && b\nCOPY --from=b --chown=1:1 x y\nENTRYPOINT ["node", "x.js"]\n');
    expect(d.directives.syntax).toBe('docker/dockerfile:1');
    expect(d.stages[0]).toMatchObject({ name: 'b', image: 'node:20-slim' });
    const [, run, copy, ep] = d.stages[0]!.instructions;
    expect(run!.raw).toBe('a && b');
    expect(copy!.flags).toEqual({ from: 'b', chown: '1:1' });
    expect(ep).toMatchObject({ json: true, args: ['node', 'x.js'] });
  });

  it('runtimeSpecifiers drops type-only imports and keeps dynamic ones', () => {
    const src = "import type { A } from 'vitest';\nimport { type B } from 'x';\nimport { C, type D } from './c.js';\nexport * from './e.js';\nconst m = await import('./f.js');\n// import 'commented';\n";
    expect(runtimeSpecifiers(src)).toEqual(['./c.js', './e.js', './f.js']);
  });
});

describe('Dockerfile lint', () => {
  it('is multi-stage: a build stage with all deps, a production-deps stage, a runtime stage', () => {
    expect(df.stages.length).toBeGreaterThanOrEqual(2);
    const installsAll = df.stages.filter((s) => runs(s).some((r) => /\bnpm ci\b(?!.*--omit=dev)/.test(r)));
    const installsProd = df.stages.filter((s) => runs(s).some((r) => /\bnpm ci\b.*--omit=dev/.test(r)));
    expect(installsAll.length, 'a stage runs `npm ci`').toBeGreaterThan(0);
    expect(installsProd.length, 'a stage runs `npm ci --omit=dev`').toBeGreaterThan(0);
    // The runtime stage installs nothing itself and takes node_modules from the --omit=dev stage.
    expect(runs(finalStage)).toEqual([]);
    const nm = all(finalStage, 'COPY').find((c) => c.args.at(-1)!.replace(/\/$/, '').endsWith('node_modules'));
    expect(nm?.flags.from, 'runtime node_modules come from another stage').toBeDefined();
    expect(installsProd.map((s) => s.index)).toContain(findStage(df, nm!.flags.from!)!.index);
  });

  it('every stage is based on a pinned Node 20 image (the runtime DESIGN.md section 6 requires); runtime is slim', () => {
    for (const s of df.stages) {
      if (findStage(df, s.image)) continue; // FROM another stage
      expect(s.image, `stage ${s.name ?? s.index}`).toMatch(/^node:20(\.\d+){0,2}-[a-z]+(-slim)?$/);
    }
    expect(finalStage.image).toMatch(/-slim$/);
  });

  it('runs as a numeric non-root user (so Kubernetes can enforce runAsNonRoot)', () => {
    const users = all(finalStage, 'USER');
    expect(users.length).toBeGreaterThan(0);
    const [uid, gid] = users.at(-1)!.args[0]!.split(':');
    expect(uid).toMatch(/^\d+$/);
    expect(Number(uid)).toBeGreaterThan(0);
    if (gid !== undefined) expect(Number(gid)).toBeGreaterThan(0);
    // The chart's securityContext uses the same uid.
    const values = readFileSync(path.join(repoRoot, 'charts/pcm/values.yaml'), 'utf8');
    expect(values).toMatch(new RegExp(`runAsUser: ${uid}\\b`));
  });

  it('uses no ADD (no remote URLs, no implicit archive extraction) and no curl|wget pipes', () => {
    for (const s of df.stages) {
      expect(all(s, 'ADD')).toEqual([]);
      for (const r of runs(s)) expect(r).not.toMatch(/\b(curl|wget)\b/);
    }
  });

  it('ENTRYPOINT is exactly ["node","bin/pcm.js"] in exec form, run from the app WORKDIR', () => {
    const ep = all(finalStage, 'ENTRYPOINT').at(-1)!;
    expect(ep.json).toBe(true);
    expect(ep.args).toEqual(['node', 'bin/pcm.js']);
    expect(all(finalStage, 'WORKDIR').length).toBeGreaterThan(0);
    expect(all(finalStage, 'ENV').map((e) => e.raw)).toContain('NODE_ENV=production');
  });

  it('decides HEALTHCHECK explicitly, and docs/image.md explains the choice', () => {
    const hc = all(finalStage, 'HEALTHCHECK');
    expect(hc.length).toBe(1);
    const doc = readFileSync(path.join(repoRoot, 'docs/image.md'), 'utf8');
    expect(doc).toMatch(/HEALTHCHECK/);
    expect(doc).toMatch(/not built here|was not built/i);
  });

  it('every context COPY source exists, is tracked by git and is not excluded by .dockerignore', () => {
    const ig = DockerIgnore.fromFile(path.join(repoRoot, '.dockerignore'));
    let checked = 0;
    for (const s of df.stages) {
      for (const c of all(s, 'COPY')) {
        if (c.flags.from) continue;
        for (const src of c.args.slice(0, -1)) {
          if (src === '.') continue;
          expect(existsSync(path.join(repoRoot, src)), `${src} (line ${c.line})`).toBe(true);
          expect(ig.ignores(src), `${src} is dockerignored (line ${c.line})`).toBe(false);
          const tracked = execFileSync('git', ['ls-files', '--', src], { cwd: repoRoot, encoding: 'utf8' });
          expect(tracked.trim(), `${src} is not tracked by git (a fresh clone would lack it)`).not.toBe('');
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('.dockerignore keeps local state and non-runtime trees out of the context', () => {
    const ig = DockerIgnore.fromFile(path.join(repoRoot, '.dockerignore'));
    for (const p of ['node_modules/x', '.git/HEAD', '.pcm-services/kube.env', 'data/pcm.db', 'test/services/env.ts', 'docs/helm.md', 'charts/pcm/Chart.yaml', 'gateway/core/engine.test.ts', 'bench/results/x.json']) {
      expect(ig.ignores(p), p).toBe(true);
    }
    for (const p of ['package.json', 'package-lock.json', 'tsconfig.json', 'bin/pcm.js', 'bin/pcm.ts', 'operator/api/schema.ts']) {
      expect(ig.ignores(p), p).toBe(false);
    }
  });
});

describe('runtime file layout, built without Docker', () => {
  let dir = '';
  let layout: ImageLayout;
  let counts: { files: number; packages: number };

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-image-'));
    layout = new ImageLayout(df, repoRoot);
    counts = layout.materialize(path.join(dir, 'app'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const app = () => path.join(dir, 'app');
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, ['bin/pcm.js', ...args], {
      cwd: app(),
      encoding: 'utf8',
      timeout: 60_000,
      // Only what the image sets: no repo env, no dev tooling on NODE_PATH.
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, NODE_ENV: 'production', TMPDIR: path.join(dir, 'tmp'), ...env },
    });

  it('holds production dependencies only, exactly the lockfile set npm ci --omit=dev installs', () => {
    const prod = lockPackages(repoRoot, true).filter((p) => existsSync(path.join(repoRoot, p.path)));
    expect(counts.packages).toBe(prod.length);
    for (const dev of ['vitest', 'typescript', 'fast-check', '@types/better-sqlite3']) expect(existsSync(path.join(app(), 'node_modules', dev)), dev).toBe(false);
    for (const dep of ['tsx', 'commander', '@kubernetes/client-node', 'fastify']) expect(existsSync(path.join(app(), 'node_modules', dep, 'package.json')), dep).toBe(true);
  });

  it('ships the runtime sources and no tests, docs, chart or local state', () => {
    expect(counts.files).toBeGreaterThan(10);
    for (const p of ['bin/pcm.js', 'bin/pcm.ts', 'package.json', 'tsconfig.json', 'operator/api/schema.ts']) expect(existsSync(path.join(app(), p)), p).toBe(true);
    for (const p of ['test', 'docs', 'charts', '.pcm-services', 'data', 'Dockerfile']) expect(existsSync(path.join(app(), p)), p).toBe(false);
    const tests = execFileSync('find', [app(), '-path', '*/node_modules', '-prune', '-o', '-name', '*.test.ts', '-print'], { encoding: 'utf8' });
    expect(tests.trim()).toBe('');
  });

  it('every module reachable from bin/pcm.js resolves inside the image (files shipped, packages production deps)', () => {
    const res = checkImports(app(), 'bin/pcm.js');
    expect(res.problems).toEqual([]);
    expect(res.files).toContain('bin/pcm.ts');
    expect(res.packages).toContain('commander');
  });

  it('`node bin/pcm.js --help` runs there (tsx from production deps) and lists the roles', () => {
    const r = run(['--help']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Usage: pcm/);
    for (const role of ROLES) {
      if (existsSync(path.join(repoRoot, 'bin/commands', `${role}.ts`))) expect(r.stdout, role).toMatch(new RegExp(`\\b${role}\\b`));
    }
  });

  it.each(ROLES)('`node bin/pcm.js %s --help` runs there when the role exists', (role) => {
    if (!existsSync(path.join(repoRoot, 'bin/commands', `${role}.ts`))) {
      // Not written yet by its owner: nothing to run, but the image must still not fail to load.
      expect(run(['--version']).status).toBe(0);
      return;
    }
    const r = run([role, '--help']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`Usage: pcm ${role}`));
  });

  it('needs a writable temp dir (tsx cache): the chart mounts an emptyDir at /tmp for readOnlyRootFilesystem', () => {
    // TMPDIR under a regular file cannot be created, like /tmp on a read-only root filesystem.
    const blocker = path.join(dir, 'not-a-dir');
    writeFileSync(blocker, '');
    const r = run(['--version'], { TMPDIR: path.join(blocker, 'tmp') });
    const withTmp = run(['--version']);
    expect(withTmp.status).toBe(0);
    // tsx's compile cache is created with mkdirSync under the temp dir and a failure is fatal.
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/mkdir .*tsx/);
    const chartDeployment = readFileSync(path.join(repoRoot, 'charts/pcm/templates/operator-deployment.yaml'), 'utf8');
    expect(chartDeployment).toMatch(/mountPath: \/tmp/);
    expect(chartDeployment).toMatch(/emptyDir:/);
    const values = readFileSync(path.join(repoRoot, 'charts/pcm/values.yaml'), 'utf8');
    expect(values).toMatch(/readOnlyRootFilesystem: true/);
  });
});
