import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildCrd, openApiSchema, toStructural } from './crd.js';
import { CRD_FILE, renderCrdYaml } from './gen-crd.js';
import { withDefaults } from './defaults.js';
import { Type } from 'typebox';

type Node = { [k: string]: unknown };

/** Walks every schema node (the checks below must hold everywhere, not just where we looked). */
function* nodes(n: Node, path = ''): Generator<[string, Node]> {
  yield [path, n];
  for (const [k, v] of Object.entries((n.properties as Record<string, Node>) ?? {})) yield* nodes(v, `${path}.${k}`);
  if (n.items) yield* nodes(n.items as Node, `${path}[]`);
  if (n.additionalProperties && typeof n.additionalProperties === 'object') yield* nodes(n.additionalProperties as Node, `${path}{}`);
  for (const b of (n.anyOf as Node[]) ?? []) yield* nodes(b, `${path}|`);
}

describe('CRD generation (one source: operator/api/schema.ts)', () => {
  it('the committed charts/pcm/crds/pcmclusters.yaml equals the generated one (run: npx tsx operator/api/gen-crd.ts)', () => {
    expect(readFileSync(CRD_FILE, 'utf8')).toBe(renderCrdYaml());
  });

  it('the YAML parses back to exactly the CRD object', () => {
    expect(parse(renderCrdYaml())).toEqual(JSON.parse(JSON.stringify(buildCrd())));
  });

  it('is a structural schema: every node typed, no forbidden keywords, no additionalProperties:false', () => {
    for (const [path, n] of nodes(openApiSchema())) {
      if (path.endsWith('|')) continue; // int-or-string branches
      expect(n.type ?? (n['x-kubernetes-int-or-string'] ? 'int-or-string' : undefined), `type at ${path}`).toBeDefined();
      for (const bad of ['$id', '$schema', '$ref', 'const', 'definitions', 'patternProperties']) expect(n, `${bad} at ${path}`).not.toHaveProperty(bad);
      expect(n.additionalProperties, path).not.toBe(false);
      if (n.properties && n.additionalProperties !== undefined) throw new Error(`properties and additionalProperties at ${path}`);
    }
  });

  it('carries the validation the API server must enforce', () => {
    const spec = (openApiSchema().properties as Node).spec as Node;
    const gw = (spec.properties as Record<string, Node>).gateways!;
    const p = gw.properties as Record<string, Node>;
    expect(p.replicas).toMatchObject({ type: 'integer', minimum: 0, default: 3 });
    expect(p.protocols).toMatchObject({ type: 'array', items: { type: 'string', enum: ['websocket', 'mqtt'] }, 'x-kubernetes-list-type': 'set' });
    expect((p.public!.properties as Record<string, Node>).hostTemplate!.pattern).toContain('\\{ordinal\\}');
    expect(gw.required).toEqual(['image', 'public']); // defaulted fields are not required
    expect(spec.required).toEqual(['gateways']);
    expect((spec.properties as Record<string, Node>).discovery!.default).toEqual({});
  });

  it('has status and scale subresources and the printer columns', () => {
    const v = (buildCrd().spec as Node).versions as Node[];
    expect(v[0]!.subresources).toEqual({
      status: {},
      scale: { specReplicasPath: '.spec.gateways.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
    });
    expect((v[0]!.additionalPrinterColumns as Node[]).map((c) => c.name)).toEqual(['Replicas', 'Ready', 'Assignments', 'Status', 'Age']);
  });

  it('toStructural rejects schemas the API server would refuse', () => {
    expect(() => toStructural(Type.Object({ a: Type.Union([Type.String(), Type.Number()]) }))).toThrow(/unsupported union/);
    expect(() => toStructural(Type.Object({ a: Type.Any() }))).toThrow(/without type/);
  });
});

describe('withDefaults (same schema, TypeScript side)', () => {
  it('fills nested defaults of omitted objects like the API server does', () => {
    const s = withDefaults({ gateways: { image: 'pcm:1', public: { hostTemplate: 'gw-{ordinal}.example.com' } } });
    expect(s.gateways).toMatchObject({ replicas: 3, ports: { http: 8080, mqtt: 1883 }, drainSeconds: 120, protocols: ['websocket', 'mqtt'] });
    expect(s.gateways.public).toEqual({ hostTemplate: 'gw-{ordinal}.example.com', tls: true, websocketPort: 443, mqttPort: 8883 });
    expect(s.discovery).toEqual({ replicas: 2, pollSeconds: 300, port: 8080 });
    expect(s.limits).toEqual({ maxTtlSeconds: 2_419_200, maxPayloadBytes: 65_536, maxPendingPerTerminal: 10_000 });
    expect(s.kafka).toBeUndefined();
  });

  it('rejects bad specs naming the field', () => {
    const base = { image: 'pcm:1', public: { hostTemplate: 'gw-{ordinal}.example.com' } };
    expect(() => withDefaults({ gateways: { ...base, replicas: -1 } })).toThrow(/gateways\.replicas/);
    expect(() => withDefaults({ gateways: { ...base, protocols: ['http'] } })).toThrow(/gateways\.protocols/);
    expect(() => withDefaults({ gateways: { ...base, public: { hostTemplate: 'gw.example.com' } } })).toThrow(/hostTemplate/);
    expect(() => withDefaults({ gateways: { ...base, public: { hostTemplate: 'GW-{ordinal}' } } })).toThrow(/hostTemplate/);
  });
});
