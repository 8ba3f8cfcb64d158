import { readFileSync } from 'node:fs';
import type { TObject, Static, TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { PcmError } from './errors.js';

/**
 * Config loading (DESIGN.md section 7): one TypeBox schema per process, values from
 * defaults < environment (`PCM_<NAME>`, or `PCM_<NAME>_FILE` naming a file, for mounted
 * secrets) < command-line flags. Validated and frozen at start; the error names the
 * field and the environment variable. This module is the only reader of process.env.
 */
export type Env = Record<string, string | undefined>;

/** `httpPort` -> `PCM_HTTP_PORT`. */
export function envName(key: string, prefix = 'PCM_'): string {
  return prefix + key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** `httpPort` -> `--http-port`. */
export function flagName(key: string): string {
  return '--' + key.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

/**
 * The CLI flag of a setting: the schema property's own `flag` (when the command's flag is
 * shorter than the setting's name, e.g. `pcm terminal --protocol` for terminalProtocol),
 * else the one derived from its name.
 */
function flagOf(schema: TObject, key: string): string {
  return (schema.properties[key] as { flag?: string } | undefined)?.flag ?? flagName(key);
}

function isArraySchema(schema: TSchema | undefined): boolean {
  return !!schema && (schema as { type?: unknown }).type === 'array';
}

function fromString(raw: string, schema: TSchema | undefined): unknown {
  if (isArraySchema(schema)) {
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  }
  return raw;
}

export interface LoadOptions {
  env?: Env;
  /** Values from parsed CLI flags, keyed by schema property name; undefined = not given. */
  flags?: Record<string, unknown>;
  prefix?: string;
}

export function loadConfig<S extends TObject>(schema: S, opts: LoadOptions = {}): Readonly<Static<S>> {
  const env = opts.env ?? process.env;
  const prefix = opts.prefix ?? 'PCM_';
  const raw: Record<string, unknown> = {};
  for (const [key, prop] of Object.entries(schema.properties) as [string, TSchema][]) {
    const name = envName(key, prefix);
    const direct = env[name];
    const file = env[`${name}_FILE`];
    if (direct !== undefined && direct !== '') raw[key] = fromString(direct, prop);
    else if (file) {
      try {
        raw[key] = fromString(readFileSync(file, 'utf8').trim(), prop);
      } catch (err) {
        throw new PcmError('PCM_ERR_CONFIG', `invalid configuration: ${name}_FILE: cannot read ${file}: ${(err as Error).message}`, {
          details: { field: key, env: `${name}_FILE` },
        });
      }
    }
    const flag = opts.flags?.[key];
    if (flag !== undefined) raw[key] = typeof flag === 'string' ? fromString(flag, prop) : flag;
  }
  let value: unknown = Value.Default(schema, raw);
  value = Value.Convert(schema, value);
  const errors = [...Value.Errors(schema, value)];
  if (errors.length > 0) {
    const e = errors[0]!;
    const path = (e.instancePath || '').replace(/^\//, '').split('/')[0] || String((e.params as { requiredProperties?: string[] })?.requiredProperties?.[0] ?? '');
    const field = path || '(root)';
    const got = path ? JSON.stringify((value as Record<string, unknown>)[path]) : '';
    // A choice (a union of literals) says what it accepts, not TypeBox's "equal to constant".
    const choices = (schema.properties[field] as { anyOf?: { const?: unknown }[] } | undefined)?.anyOf;
    const message = choices?.length && choices.every((c) => c.const !== undefined) ? `must be one of ${choices.map((c) => String(c.const)).join(', ')}` : e.message;
    throw new PcmError(
      'PCM_ERR_CONFIG',
      `invalid configuration: ${field} (${envName(field, prefix)} / ${flagOf(schema, field)}) ${message}${got ? `, got ${got}` : ''}`,
      { details: { field, env: envName(field, prefix), errors: errors.map((x) => ({ path: x.instancePath, message: x.message })) } },
    );
  }
  return deepFreeze(value as Static<S>);
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
    Object.freeze(v);
  }
  return v;
}

/** Markdown rows `| env | flag | default | description |` for the README's configuration table. */
export function describeConfig(schema: TObject, prefix = 'PCM_'): string[] {
  return Object.entries(schema.properties).map(([key, prop]) => {
    const p = prop as { default?: unknown; description?: string };
    const def = p.default === undefined ? '' : `\`${Array.isArray(p.default) ? p.default.join(',') : String(p.default)}\``;
    return `| \`${envName(key, prefix)}\` | \`${flagOf(schema, key)}\` | ${def} | ${p.description ?? ''} |`;
  });
}
