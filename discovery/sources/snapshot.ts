import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { PcmError } from '../../common/errors.js';
import type { GatewayEndpoint, GatewaySnapshot } from './source.js';

/**
 * The gateway-set document shared by the file source, the PCM_GATEWAYS config value and the
 * operator's assignments ConfigMap:
 *
 *   {"generation": 7, "gateways": [{"id": "gw-0", "websocketUrl": "ws://…/v1/connect",
 *     "mqttUrl": "mqtt://…:1883", "weight": 1, "draining": false}]}
 *
 * A bare array of gateways is accepted too (generation then comes from the caller).
 */
export const GatewayEndpointSchema = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$' }),
    websocketUrl: Type.String({ pattern: '^wss?://' }),
    mqttUrl: Type.String({ pattern: '^(mqtts?|wss?|tcp|ssl)://' }),
    weight: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1_000_000 })),
    draining: Type.Optional(Type.Boolean()),
    ready: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: true },
);

export const GatewaySnapshotSchema = Type.Object({
  generation: Type.Optional(Type.Integer({ minimum: 0 })),
  gateways: Type.Array(GatewayEndpointSchema),
});

type RawEndpoint = Static<typeof GatewayEndpointSchema>;

function normalize(raw: RawEndpoint): GatewayEndpoint {
  return Object.freeze({
    id: raw.id,
    websocketUrl: raw.websocketUrl,
    mqttUrl: raw.mqttUrl,
    weight: raw.weight ?? 1,
    draining: raw.draining ?? false,
    ...(raw.ready === false ? { ready: false as const } : {}),
  });
}

export function freezeSnapshot(generation: number, gateways: readonly GatewayEndpoint[]): GatewaySnapshot {
  const ids = new Set<string>();
  for (const g of gateways) {
    if (ids.has(g.id)) throw new PcmError('PCM_ERR_CONFIG', `gateway set: duplicate gateway id ${JSON.stringify(g.id)}`);
    ids.add(g.id);
  }
  // Sorted by id so two snapshots with the same content compare equal (see sameGateways).
  const sorted = [...gateways].map((g) => Object.freeze({ ...g })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return Object.freeze({ generation, gateways: Object.freeze(sorted) });
}

/**
 * Parses and validates a gateway-set document (object or bare array, as JSON text or a
 * parsed value). Throws PcmError PCM_ERR_CONFIG naming the first bad field.
 * `fallbackGeneration` is used when the document carries none.
 */
export function parseGatewaySnapshot(input: string | unknown, fallbackGeneration: number): GatewaySnapshot {
  let doc: unknown = input;
  if (typeof input === 'string') {
    try {
      doc = JSON.parse(input);
    } catch (err) {
      throw new PcmError('PCM_ERR_CONFIG', `gateway set: not valid JSON: ${(err as Error).message}`);
    }
  }
  if (Array.isArray(doc)) doc = { gateways: doc };
  const errors = [...Value.Errors(GatewaySnapshotSchema, doc)];
  if (errors.length > 0) {
    const e = errors[0]!;
    throw new PcmError('PCM_ERR_CONFIG', `gateway set: ${e.instancePath || '(root)'} ${e.message}`, {
      details: { errors: errors.slice(0, 10).map((x) => ({ path: x.instancePath, message: x.message })) },
    });
  }
  const valid = doc as Static<typeof GatewaySnapshotSchema>;
  return freezeSnapshot(valid.generation ?? fallbackGeneration, valid.gateways.map(normalize));
}

/**
 * Parses the compact PCM_GATEWAYS form, one entry per comma:
 * `id|websocketUrl|mqttUrl[|weight][|draining]`, or a JSON document as above.
 */
export function parseGatewayList(text: string, generation = 1): GatewaySnapshot {
  const trimmed = text.trim();
  if (trimmed === '') return freezeSnapshot(generation, []);
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) return parseGatewaySnapshot(trimmed, generation);
  const gateways = trimmed
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((entry) => {
      const [id, websocketUrl, mqttUrl, ...rest] = entry.split('|').map((s) => s.trim());
      const raw: Record<string, unknown> = { id, websocketUrl, mqttUrl };
      for (const r of rest) {
        if (r === 'draining') raw.draining = true;
        else if (r !== '') raw.weight = Number(r);
      }
      return raw;
    });
  return parseGatewaySnapshot({ generation, gateways }, generation);
}

/** True when two gateway lists have the same content (snapshots are sorted by id). */
export function sameGateways(a: readonly GatewayEndpoint[], b: readonly GatewayEndpoint[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((g, i) => {
    const h = b[i]!;
    return g.id === h.id && g.websocketUrl === h.websocketUrl && g.mqttUrl === h.mqttUrl && g.weight === h.weight && g.draining === h.draining;
  });
}
