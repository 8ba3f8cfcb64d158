/**
 * A small Dockerfile parser: enough of the reference syntax (line continuations, comments,
 * parser directives, JSON and shell forms, ARG substitution, COPY flags) for test/image/ to
 * lint the PCM Dockerfile and follow its stages without a Docker engine (docs/image.md).
 */

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY, ... */
  keyword: string;
  /** The raw argument text after the keyword, continuation lines joined. */
  raw: string;
  /** 1-based line of the keyword. */
  line: number;
  /** `--name=value` flags (COPY, ADD, RUN --mount ...). */
  flags: Record<string, string>;
  /** Arguments: the JSON array when in exec form, else the whitespace-split remainder after the flags. */
  args: string[];
  /** True when the arguments were a JSON array (exec form). */
  json: boolean;
}

export interface Stage {
  index: number;
  name?: string;
  /** Base image with ARGs substituted, e.g. `node:20.20-bookworm`. */
  image: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  directives: Record<string, string>;
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Record<string, string>;
  stages: Stage[];
}

export class DockerfileSyntaxError extends Error {
  constructor(line: number, message: string) {
    super(`Dockerfile line ${line}: ${message}`);
    this.name = 'DockerfileSyntaxError';
  }
}

function logicalLines(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  const lines = text.split(/\r?\n/);
  let buf = '';
  let start = 0;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const trimmed = l.trim();
    // Comment lines inside a continuation are dropped, as BuildKit does.
    if (trimmed.startsWith('#')) {
      if (buf === '') out.push({ line: i + 1, text: trimmed });
      continue;
    }
    if (buf === '') start = i + 1;
    if (trimmed.endsWith('\\')) {
      buf += trimmed.slice(0, -1).trimEnd() + ' ';
      continue;
    }
    buf += trimmed;
    if (buf.trim() !== '') out.push({ line: start, text: buf.trim() });
    buf = '';
  }
  if (buf.trim() !== '') out.push({ line: start, text: buf.trim() });
  return out;
}

/** Substitutes `$NAME` and `${NAME}` (and `${NAME:-default}`) from the given ARG values. */
export function substitute(s: string, vars: Record<string, string>): string {
  return s.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, a, _d, def, b) => {
    const name = (a ?? b) as string;
    return vars[name] ?? (def as string | undefined) ?? '';
  });
}

function parseInstruction(line: number, text: string): Instruction {
  const m = /^([A-Za-z]+)\s*(.*)$/.exec(text);
  if (!m) throw new DockerfileSyntaxError(line, `cannot parse "${text}"`);
  const keyword = m[1]!.toUpperCase();
  let rest = m[2]!;
  const flags: Record<string, string> = {};
  if (['COPY', 'ADD', 'RUN', 'FROM'].includes(keyword)) {
    for (;;) {
      const f = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest);
      if (!f) break;
      flags[f[1]!] = f[2] ?? 'true';
      rest = rest.slice(f[0].length);
    }
  }
  let args: string[];
  let json = false;
  if (rest.startsWith('[')) {
    try {
      const parsed = JSON.parse(rest) as unknown;
      if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) throw new Error('not a string array');
      args = parsed as string[];
      json = true;
    } catch (e) {
      throw new DockerfileSyntaxError(line, `${keyword}: invalid JSON array form (${(e as Error).message})`);
    }
  } else {
    args = rest.split(/\s+/).filter(Boolean);
  }
  return { keyword, raw: rest, line, flags, args, json };
}

export function parseDockerfile(text: string): Dockerfile {
  const directives: Record<string, string> = {};
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  let inHeader = true;
  for (const { line, text: t } of logicalLines(text)) {
    if (t.startsWith('#')) {
      const d = /^#\s*([a-z]+)\s*=\s*(\S+)\s*$/.exec(t);
      if (inHeader && d) directives[d[1]!] = d[2]!;
      else inHeader = false;
      continue;
    }
    inHeader = false;
    const ins = parseInstruction(line, t);
    if (ins.keyword === 'FROM') {
      const [image, as, name] = ins.args;
      if (!image) throw new DockerfileSyntaxError(line, 'FROM without an image');
      if (as !== undefined && (as.toUpperCase() !== 'AS' || !name)) throw new DockerfileSyntaxError(line, 'expected FROM <image> AS <name>');
      stages.push({ index: stages.length, name: name?.toLowerCase(), image: substitute(image, globalArgs), instructions: [ins] });
      continue;
    }
    if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new DockerfileSyntaxError(line, `${ins.keyword} before the first FROM`);
      const [k, v] = (ins.args[0] ?? '').split('=');
      globalArgs[k!] = v ?? '';
      continue;
    }
    stages[stages.length - 1]!.instructions.push(ins);
  }
  return { directives, globalArgs, stages };
}

/** The stage a `--from=` names: a stage name or index. */
export function findStage(df: Dockerfile, ref: string): Stage | undefined {
  if (/^\d+$/.test(ref)) return df.stages[Number(ref)];
  return df.stages.find((s) => s.name === ref.toLowerCase());
}
