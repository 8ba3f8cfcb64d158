/**
 * Builds the runtime image's file layout WITHOUT a Docker engine (none runs here; docs/image.md):
 * follows the Dockerfile stage by stage, tracking which path of which stage comes from where
 * (build context honoring .dockerignore, `npm ci`, `npm ci --omit=dev`, another stage), then
 * writes the final stage's WORKDIR into a directory. `npm ci --omit=dev` is reproduced from
 * package-lock.json: every package npm would install (not `dev`/`devOptional`, present for this
 * platform) is hard-linked from the checkout's node_modules, so the layout holds the production
 * dependencies and nothing else. A RUN this file does not understand is an error, so the
 * emulation cannot silently drift from the Dockerfile.
 */
import { cpSync, existsSync, linkSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { type Dockerfile, type Stage, findStage, substitute } from './dockerfile.js';
import { DockerIgnore } from './dockerignore.js';

export type Source =
  | { kind: 'context'; rel: string }
  | { kind: 'deps'; omitDev: boolean; rel: string }
  | { kind: 'base'; image: string; abs: string };

interface Mount {
  /** Absolute path inside the stage. */
  at: string;
  src: Source;
}

export interface StageState {
  stage: Stage;
  workdir: string;
  user?: string;
  env: Record<string, string>;
  mounts: Mount[];
}

export class LayoutError extends Error {
  constructor(line: number, message: string) {
    super(`Dockerfile line ${line}: ${message}`);
    this.name = 'LayoutError';
  }
}

/** RUN commands the emulation knows; anything else fails the build of the layout. */
const RUN_NPM_CI = /^npm ci(\s+--[a-z-]+(=\S+)?)*$/;
const RUN_TYPECHECK = /^npx tsc --noEmit( -p \.)?$/;

function withinSrc(src: Source, sub: string): Source {
  if (sub === '') return src;
  if (src.kind === 'base') return { ...src, abs: path.posix.join(src.abs, sub) };
  return { ...src, rel: path.posix.join(src.rel, sub) };
}

export class ImageLayout {
  readonly df: Dockerfile;
  readonly ignore: DockerIgnore;
  readonly states: StageState[] = [];

  constructor(
    df: Dockerfile,
    readonly contextDir: string,
  ) {
    this.df = df;
    this.ignore = DockerIgnore.fromFile(path.join(contextDir, '.dockerignore'));
    for (const stage of df.stages) this.states.push(this.follow(stage));
  }

  get final(): StageState {
    return this.states[this.states.length - 1]!;
  }

  /** Where an absolute path of a stage comes from (longest mount prefix; later mounts win ties). */
  resolve(state: StageState, abs: string): Source {
    let best: Mount | undefined;
    for (const m of state.mounts) {
      if (abs === m.at || abs.startsWith(m.at === '/' ? '/' : `${m.at}/`)) {
        if (!best || m.at.length >= best.at.length) best = m;
      }
    }
    if (!best) return { kind: 'base', image: state.stage.image, abs };
    return withinSrc(best.src, path.posix.relative(best.at, abs));
  }

  private follow(stage: Stage): StageState {
    const from = findStage(this.df, stage.image);
    const state: StageState = from
      ? { ...this.states[from.index]!, stage, mounts: [...this.states[from.index]!.mounts] }
      : { stage, workdir: '/', env: {}, mounts: [] };
    const args: Record<string, string> = { ...this.df.globalArgs };
    for (const ins of stage.instructions.slice(1)) {
      switch (ins.keyword) {
        case 'ARG': {
          const [k, v] = (ins.args[0] ?? '').split('=');
          args[k!] = v ?? args[k!] ?? '';
          break;
        }
        case 'ENV': {
          const [k, v] = ins.raw.split('=');
          state.env[k!.trim()] = substitute((v ?? '').trim(), args);
          break;
        }
        case 'WORKDIR':
          state.workdir = path.posix.resolve(state.workdir, substitute(ins.args[0]!, args));
          break;
        case 'USER':
          state.user = substitute(ins.args[0]!, args);
          break;
        case 'COPY':
          this.copy(state, ins.line, ins.flags, ins.args.map((a) => substitute(a, args)));
          break;
        case 'ADD':
          throw new LayoutError(ins.line, 'ADD is not supported: use COPY');
        case 'RUN': {
          const cmd = ins.json ? ins.args.join(' ') : ins.raw;
          for (const part of cmd.split('&&').map((s) => s.trim())) {
            if (RUN_NPM_CI.test(part)) {
              const omitDev = /--omit=dev\b/.test(part);
              state.mounts.push({ at: path.posix.join(state.workdir, 'node_modules'), src: { kind: 'deps', omitDev, rel: '' } });
            } else if (RUN_TYPECHECK.test(part)) {
              // Type checking writes nothing (noEmit); `npm run typecheck` is its test.
            } else {
              throw new LayoutError(ins.line, `RUN "${part}" is unknown to test/image/layout.ts: teach it what that command writes`);
            }
          }
          break;
        }
        default:
          // LABEL, EXPOSE, HEALTHCHECK, ENTRYPOINT, CMD, STOPSIGNAL, ... write no files.
          break;
      }
    }
    return state;
  }

  private copy(state: StageState, line: number, flags: Record<string, string>, args: string[]): void {
    if (args.length < 2) throw new LayoutError(line, 'COPY needs a source and a destination');
    const srcs = args.slice(0, -1);
    const destRaw = args[args.length - 1]!;
    const dest = path.posix.resolve(state.workdir, destRaw);
    const intoDir = destRaw.endsWith('/') || srcs.length > 1;
    const fromRef = flags.from;
    const fromState = fromRef !== undefined ? this.stageState(line, fromRef) : undefined;
    for (const s of srcs) {
      let src: Source;
      let isDir: boolean;
      if (fromState) {
        src = this.resolve(fromState, path.posix.resolve(fromState.workdir, s));
        isDir = this.isDir(src);
      } else {
        const rel = path.posix.normalize(s).replace(/^\/+/, '').replace(/\/+$/, '') || '.';
        if (rel !== '.' && this.ignore.ignores(rel)) throw new LayoutError(line, `COPY source "${s}" is excluded by .dockerignore`);
        if (!existsSync(path.join(this.contextDir, rel))) throw new LayoutError(line, `COPY source "${s}" does not exist in the build context`);
        src = { kind: 'context', rel: rel === '.' ? '' : rel };
        isDir = statSync(path.join(this.contextDir, rel)).isDirectory();
      }
      // Directories copy their contents to dest; files go to dest/ (or become dest).
      const at = isDir ? dest : intoDir ? path.posix.join(dest, path.posix.basename(s)) : dest;
      state.mounts.push({ at, src });
    }
  }

  private stageState(line: number, ref: string): StageState {
    const st = findStage(this.df, ref);
    if (!st) throw new LayoutError(line, `COPY --from=${ref}: no such stage (external images are not followed)`);
    const state = this.states[st.index];
    if (!state) throw new LayoutError(line, `COPY --from=${ref}: stage is defined later`);
    return state;
  }

  private isDir(src: Source): boolean {
    if (src.kind === 'context') return statSync(path.join(this.contextDir, src.rel)).isDirectory();
    if (src.kind === 'deps') return src.rel === '' || statSync(path.join(this.contextDir, 'node_modules', src.rel)).isDirectory();
    return true;
  }

  /** Writes the final stage's WORKDIR into `outDir` (files hard-linked from the checkout). */
  materialize(outDir: string): { files: number; packages: number } {
    const state = this.final;
    const counts = { files: 0, packages: 0 };
    for (const m of state.mounts) {
      if (m.at !== state.workdir && !m.at.startsWith(`${state.workdir}/`)) continue;
      const target = path.join(outDir, path.posix.relative(state.workdir, m.at));
      const src = m.src;
      if (src.kind === 'base') continue; // files of the base image are not ours to place
      if (src.kind === 'context') counts.files += this.copyContext(src.rel, target);
      else {
        if (src.rel !== '') throw new Error(`partial copy out of node_modules (${src.rel}) is not emulated`);
        counts.packages += installFromLock(this.contextDir, target, src.omitDev);
      }
    }
    return counts;
  }

  private copyContext(rel: string, target: string): number {
    const abs = path.join(this.contextDir, rel);
    if (!statSync(abs).isDirectory()) {
      mkdirSync(path.dirname(target), { recursive: true });
      cpSync(abs, target);
      return 1;
    }
    let n = 0;
    mkdirSync(target, { recursive: true });
    for (const e of readdirSync(abs, { withFileTypes: true })) {
      const childRel = rel === '' ? e.name : `${rel}/${e.name}`;
      if (this.ignore.ignores(childRel)) continue;
      n += this.copyContext(childRel, path.join(target, e.name));
    }
    return n;
  }
}

interface LockPackage {
  dev?: boolean;
  devOptional?: boolean;
  optional?: boolean;
  os?: string[];
  cpu?: string[];
}

function platformMatches(list: string[] | undefined, value: string): boolean {
  if (!list || list.length === 0) return true;
  const allowed = list.filter((x) => !x.startsWith('!'));
  if (list.includes(`!${value}`)) return false;
  return allowed.length === 0 || allowed.includes(value);
}

/** The node_modules paths `npm ci [--omit=dev]` installs for this platform, from the lockfile. */
export function lockPackages(contextDir: string, omitDev: boolean): { path: string; optional: boolean }[] {
  const lock = JSON.parse(readFileSync(path.join(contextDir, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockPackage> };
  const out: { path: string; optional: boolean }[] = [];
  for (const [p, pkg] of Object.entries(lock.packages)) {
    if (p === '' || !p.startsWith('node_modules/')) continue;
    if (omitDev && (pkg.dev || pkg.devOptional)) continue;
    if (!platformMatches(pkg.os, process.platform) || !platformMatches(pkg.cpu, process.arch)) continue;
    out.push({ path: p, optional: Boolean(pkg.optional || pkg.devOptional) });
  }
  return out;
}

function linkTree(src: string, dst: string, skipNodeModules: boolean): void {
  mkdirSync(dst, { recursive: true });
  for (const e of readdirSync(src, { withFileTypes: true })) {
    if (skipNodeModules && e.name === 'node_modules') continue; // nested packages are their own lock entries
    const s = path.join(src, e.name);
    const d = path.join(dst, e.name);
    if (e.isDirectory()) linkTree(s, d, false);
    else if (lstatSync(s).isSymbolicLink()) cpSync(s, d, { verbatimSymlinks: true });
    else {
      try {
        linkSync(s, d);
      } catch (err) {
        // Another filesystem (EXDEV) or no hard links: copy instead.
        if ((err as NodeJS.ErrnoException).code !== 'EXDEV' && (err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
        cpSync(s, d);
      }
    }
  }
}

function installFromLock(contextDir: string, target: string, omitDev: boolean): number {
  let n = 0;
  for (const pkg of lockPackages(contextDir, omitDev)) {
    const src = path.join(contextDir, pkg.path);
    if (!existsSync(src)) {
      if (pkg.optional) continue; // optional platform package npm skipped here too
      throw new Error(`${pkg.path} is in package-lock.json but not installed in the checkout: run npm ci`);
    }
    linkTree(src, path.join(target, path.relative('node_modules', pkg.path)), true);
    n++;
  }
  return n;
}
