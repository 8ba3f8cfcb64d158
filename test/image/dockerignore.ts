/**
 * `.dockerignore` matching as Docker's build context does it (moby/patternmatcher): patterns
 * are relative to the context root, `*` and `?` stay within one path segment, `**` spans any
 * number of segments, `!` re-includes, the last matching pattern wins, and excluding a
 * directory excludes everything under it. There is no implicit `**\/` prefix (unlike .gitignore).
 */
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';

interface Rule {
  pattern: string;
  negate: boolean;
  re: RegExp;
}

function toRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        // `**/` matches zero or more directories; a trailing `**` matches everything.
        if (pattern[i + 2] === '/') {
          re += '(?:.*/)?';
          i += 2;
        } else {
          re += '.*';
          i += 1;
        }
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export class DockerIgnore {
  private readonly rules: Rule[];

  constructor(text: string) {
    this.rules = [];
    for (const rawLine of text.split(/\r?\n/)) {
      let line = rawLine.trim();
      if (line === '' || line.startsWith('#')) continue;
      const negate = line.startsWith('!');
      if (negate) line = line.slice(1).trim();
      // filepath.Clean, and a leading slash means the context root.
      const pattern = path.posix.normalize(line).replace(/^\/+/, '').replace(/\/+$/, '');
      this.rules.push({ pattern, negate, re: toRegExp(pattern) });
    }
  }

  static fromFile(file: string): DockerIgnore {
    return new DockerIgnore(existsSync(file) ? readFileSync(file, 'utf8') : '');
  }

  get patterns(): string[] {
    return this.rules.map((r) => (r.negate ? '!' : '') + r.pattern);
  }

  /** Whether the context-relative POSIX path is left out of the build context. */
  ignores(relPath: string): boolean {
    const p = path.posix.normalize(relPath).replace(/^\.\//, '').replace(/\/+$/, '');
    if (p === '' || p === '.') return false;
    const parts = p.split('/');
    let excluded = false;
    for (const rule of this.rules) {
      // A rule matches the path itself or any parent directory of it.
      let match = false;
      for (let n = parts.length; n >= 1 && !match; n--) match = rule.re.test(parts.slice(0, n).join('/'));
      if (match) excluded = !rule.negate;
    }
    return excluded;
  }
}
