import type { TSchema } from 'typebox';
import { API_VERSION, CRD_NAME, GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION } from './group.js';
import { PCMClusterSpecSchema, PCMClusterStatusSchema } from './schema.js';

/**
 * Builds the CustomResourceDefinition from the TypeBox schemas in schema.ts (one source for
 * types and validation, DESIGN.md section 5). `operator/api/gen-crd.ts` writes it to
 * charts/pcm/crds/pcmclusters.yaml; a unit test keeps that file equal to this output.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

/** Keywords apiextensions.k8s.io/v1 JSONSchemaProps has no field for, or forbids in structural schemas. */
const DROPPED = new Set(['$id', '$schema', '$ref', '$defs', 'definitions', 'const', 'examples', 'readOnly', 'writeOnly']);

/**
 * TypeBox JSON schema -> Kubernetes structural schema:
 * - drops `$id`/`$schema`/… (forbidden) and `additionalProperties: false` (structural schemas
 *   prune unknown fields instead; `properties` and `additionalProperties` are mutually exclusive);
 * - `Type.Record` (`patternProperties: {"^.*$": X}`) becomes `additionalProperties: X`;
 * - an `enum` without `type` gets the type of its values (every node needs a type);
 * - a union marked `x-kubernetes-int-or-string` keeps its `anyOf` of integer|string, the one
 *   form the API server accepts there; any other `anyOf` of `const`s becomes an `enum`;
 * - properties with a `default` leave `required` (the API server fills them before validating).
 */
export function toStructural(schema: TSchema | Json): JsonObject {
  // JSON round trip drops TypeBox's symbol-keyed metadata.
  return convert(JSON.parse(JSON.stringify(schema)) as JsonObject);
}

function convert(node: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(node)) {
    if (DROPPED.has(k)) continue;
    if (k === 'additionalProperties' && v === false) continue;
    out[k] = v;
  }
  if (out['x-kubernetes-int-or-string'] === true) {
    // Only exactly `anyOf: [{type: integer}, {type: string}]` is structural; a branch's other
    // keywords (the quantity pattern) move up to the node, where they still apply to strings only.
    for (const b of out.anyOf as JsonObject[]) {
      for (const [k, v] of Object.entries(b)) if (k !== 'type') out[k] = v;
    }
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
    return out;
  }
  if (Array.isArray(out.anyOf) && (out.anyOf as JsonObject[]).every((b) => 'const' in b)) {
    const values = (out.anyOf as JsonObject[]).map((b) => b.const as Json);
    delete out.anyOf;
    out.enum = values;
  }
  if (Array.isArray(out.enum) && out.type === undefined) {
    const types = new Set((out.enum as Json[]).map((v) => (Number.isInteger(v) ? 'integer' : typeof v)));
    if (types.size !== 1) throw new Error(`CRD schema: enum mixes types ${[...types].join(', ')}`);
    out.type = [...types][0]!;
  }
  if (out.patternProperties && typeof out.patternProperties === 'object') {
    const entries = Object.entries(out.patternProperties as JsonObject);
    if (entries.length !== 1 || entries[0]![0] !== '^.*$') throw new Error('CRD schema: only Type.Record(Type.String(), X) maps are supported');
    delete out.patternProperties;
    out.type = 'object';
    out.additionalProperties = convert(entries[0]![1] as JsonObject);
  }
  if (out.properties && typeof out.properties === 'object') {
    const props: JsonObject = {};
    for (const [name, p] of Object.entries(out.properties as JsonObject)) props[name] = convert(p as JsonObject);
    out.properties = props;
    if (Array.isArray(out.required)) {
      const required = (out.required as string[]).filter((r) => (props[r] as JsonObject | undefined)?.default === undefined);
      if (required.length > 0) out.required = required;
      else delete out.required;
    }
  }
  if (out.items && typeof out.items === 'object' && !Array.isArray(out.items)) out.items = convert(out.items as JsonObject);
  if (Array.isArray(out.anyOf) || Array.isArray(out.oneOf) || Array.isArray(out.allOf)) {
    throw new Error(`CRD schema: unsupported union at ${JSON.stringify(node).slice(0, 80)}`);
  }
  if (out.type === undefined) throw new Error(`CRD schema: node without type: ${JSON.stringify(node).slice(0, 80)}`);
  return out;
}

export const PRINTER_COLUMNS = [
  { name: 'Replicas', type: 'integer', jsonPath: '.spec.gateways.replicas', description: 'Desired gateway pods' },
  { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas', description: 'Ready gateway pods' },
  { name: 'Assignments', type: 'integer', jsonPath: '.status.assignmentsGeneration', description: 'Published assignments generation' },
  { name: 'Status', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: 'Ready condition' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
];

export function openApiSchema(): JsonObject {
  return {
    type: 'object',
    description: `${KIND}: one PCM fleet (gateways, discovery, assignments) in this namespace.`,
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec: toStructural(PCMClusterSpecSchema),
      status: toStructural(PCMClusterStatusSchema),
    },
  };
}

/** The CRD object (apiextensions.k8s.io/v1), ready to serialise or to create through the API. */
export function buildCrd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: CRD_NAME,
      labels: { 'app.kubernetes.io/name': 'pcm', 'app.kubernetes.io/component': 'crd' },
    },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { kind: KIND, listKind: `${KIND}List`, plural: PLURAL, singular: SINGULAR, shortNames: SHORT_NAMES },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: openApiSchema() },
          subresources: {
            status: {},
            // `kubectl scale pcmcluster/x --replicas=5` and an HPA drive the gateway count.
            scale: {
              specReplicasPath: '.spec.gateways.replicas',
              statusReplicasPath: '.status.replicas',
              labelSelectorPath: '.status.selector',
            },
          },
          additionalPrinterColumns: PRINTER_COLUMNS,
        },
      ],
    },
  };
}

export const CRD_API_VERSION = API_VERSION;
