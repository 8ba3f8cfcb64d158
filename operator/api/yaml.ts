/**
 * A minimal YAML emitter for JSON data (the generated CRD). client-node's dumpYaml runs
 * objects through its typed serializer, which silently drops fields it does not model
 * (`default`, `enum`, `x-kubernetes-*` inside JSONSchemaProps), so the CRD is written here.
 * Strings are always double-quoted JSON strings (a subset of YAML's double-quoted scalars),
 * so no value can be misread as a number, boolean or null.
 */
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_.$/-]*$/;
const key = (k: string) => (PLAIN_KEY.test(k) ? k : JSON.stringify(k));

function scalar(v: Json): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

const isEmptyCollection = (v: Json) => (Array.isArray(v) && v.length === 0) || (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0);

function emit(v: Json, indent: string, out: string[]): void {
  if (Array.isArray(v)) {
    for (const item of v) {
      if (item !== null && typeof item === 'object' && !isEmptyCollection(item)) {
        const sub: string[] = [];
        emit(item, indent + '  ', sub);
        out.push(indent + '- ' + sub[0]!.slice(indent.length + 2), ...sub.slice(1));
      } else out.push(`${indent}- ${isEmptyCollection(item) ? (Array.isArray(item) ? '[]' : '{}') : scalar(item)}`);
    }
    return;
  }
  if (v !== null && typeof v === 'object') {
    for (const [k, child] of Object.entries(v)) {
      if (child !== null && typeof child === 'object' && !isEmptyCollection(child)) {
        out.push(`${indent}${key(k)}:`);
        emit(child, Array.isArray(child) ? indent : indent + '  ', out);
      } else out.push(`${indent}${key(k)}: ${isEmptyCollection(child) ? (Array.isArray(child) ? '[]' : '{}') : scalar(child)}`);
    }
    return;
  }
  out.push(indent + scalar(v));
}

export function toYaml(value: unknown): string {
  const out: string[] = [];
  emit(JSON.parse(JSON.stringify(value)) as Json, '', out);
  return out.join('\n') + '\n';
}
