/**
 * Writes charts/pcm/values.schema.json: the hand-written values.schema.base.json with
 * `sampleCluster.spec` replaced by the PCMCluster spec schema from crds/pcmclusters.yaml
 * (generated from operator/api/schema.ts), so a bad sample spec fails `helm install` and
 * `helm lint` before it reaches the API server. `gateways.image` is not required there: the
 * chart fills it with its own image.
 *   npx tsx charts/pcm/sync-values-schema.ts          write
 *   npx tsx charts/pcm/sync-values-schema.ts --check  exit 1 when values.schema.json is stale
 * test/integration/helm/values-schema.test.ts runs the check.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';

const chartDir = path.dirname(fileURLToPath(import.meta.url));
export const VALUES_SCHEMA_FILE = path.join(chartDir, 'values.schema.json');

type Json = Record<string, unknown>;

/** JSON Schema keywords understood by Helm's validator; x-kubernetes-* extensions are dropped. */
function clean(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(clean);
  if (node === null || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node as Json)) {
    if (k.startsWith('x-kubernetes-')) continue;
    out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as Json).map(([pk, pv]) => [pk, clean(pv)])) : clean(v);
  }
  return out;
}

export function renderValuesSchema(): string {
  const base = JSON.parse(readFileSync(path.join(chartDir, 'values.schema.base.json'), 'utf8')) as Json;
  const crd = (parseYaml(readFileSync(path.join(chartDir, 'crds/pcmclusters.yaml'), 'utf8')) as Json);
  const versions = (crd.spec as Json).versions as Json[];
  const served = versions.find((v) => v.storage) ?? versions[0]!;
  const spec = clean(((served.schema as Json).openAPIV3Schema as Json).properties && (((served.schema as Json).openAPIV3Schema as Json).properties as Json).spec) as Json;
  const gateways = (spec.properties as Json).gateways as Json;
  gateways.required = ((gateways.required as string[]) ?? []).filter((r) => r !== 'image');
  const gwProps = gateways.properties as Json;
  gwProps.image = { type: 'string', description: `${String((gwProps.image as Json).description ?? '')} Empty: the chart's image.`.trim() };
  if ((gateways.required as string[]).length === 0) delete gateways.required;
  // Unknown spec fields would be pruned by the API server without a word; refuse them here.
  const closeObjects = (n: Json): void => {
    if (n.type === 'object' && n.properties && n.additionalProperties === undefined) n.additionalProperties = false;
    for (const c of Object.values((n.properties as Record<string, Json>) ?? {})) closeObjects(c);
    if (n.items) closeObjects(n.items as Json);
  };
  closeObjects(spec);
  spec.description = `PCMCluster spec (${String((crd.spec as Json).group)}/${String(served.name)}), from crds/pcmclusters.yaml.`;
  const sample = ((base.properties as Json).sampleCluster as Json).properties as Json;
  sample.spec = spec;
  return `${JSON.stringify(base, null, 2)}\n`;
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const text = renderValuesSchema();
  if (process.argv.includes('--check')) {
    if (readFileSync(VALUES_SCHEMA_FILE, 'utf8') !== text) {
      process.stderr.write(`${VALUES_SCHEMA_FILE} is stale: run npx tsx charts/pcm/sync-values-schema.ts\n`);
      process.exit(1);
    }
  } else {
    writeFileSync(VALUES_SCHEMA_FILE, text);
    process.stdout.write(`wrote ${VALUES_SCHEMA_FILE}\n`);
  }
}
