/**
 * Schema-driven fuzzer for the sender API (issue 8, hostile input), with fast-check and no
 * outside service. It walks the runtime route schemas in gateway/adapters/http/schemas.ts:
 * for every property of a body schema it draws schema-valid values, boundary values and values
 * of the wrong type, plus bodies that are not objects or not JSON, hostile terminal ids and odd
 * content types (raw bodies and content types schemathesis does not send). Its counterpart
 * test/fuzz/sender-api.schemathesis.test.ts runs schemathesis against the OpenAPI document the
 * gateway publishes at /openapi.json (`npm run services -- up schemathesis`).
 *
 * Properties: no 5xx except 504 PCM_ERR_REQUEST_TIMEOUT; every error is `{code, message}`
 * with a catalogue code whose status is the HTTP status; every 2xx matches its response
 * schema; a body the schema refuses is a 4xx; and refused requests change no state: the
 * seqs handed out by 202s for a terminal are exactly 1..counter (a rejected send never
 * consumes a seq).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Value } from 'typebox/value';
import { ERROR_CATALOGUE } from '../../common/errors.js';
import { PresenceResponse, RequestBody, SendBody, SendResponse } from '../../gateway/adapters/http/schemas.js';
import { startGateway, type TestGateway } from '../e2e/harness.js';

// A small pool, so each terminal gets many sends (valid and not) and the seq accounting below means something.
const validId = fc.oneof(fc.constantFrom('fz-a', 'fz-b', 'fz-c', 'fz-d', 'fz-e'), fc.stringMatching(/^fz-[A-Za-z0-9._:-]{1,12}$/));
const hostileId = fc.oneof(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
  fc.constantFrom('..', '.', '%2e%2e', 'a/b', 'a+b', 'a#b', '$SYS', 'x'.repeat(129), 'x'.repeat(128), ' ', '\u0000', 'pcm/t/x'),
);

/** Values for one schema property: valid for its TypeBox schema, boundary, or wrong type. */
function valuesFor(schema: any): fc.Arbitrary<unknown> {
  const wrong = fc.oneof(fc.constant(null), fc.boolean(), fc.double(), fc.integer(), fc.string({ maxLength: 20 }), fc.array(fc.integer(), { maxLength: 3 }), fc.object({ maxDepth: 1 }));
  if (schema.type === 'string') {
    const min = schema.minLength ?? 0;
    const max = schema.maxLength ?? 64;
    return fc.oneof(fc.string({ minLength: min, maxLength: Math.min(max, 40) }), fc.constant('x'.repeat(max)), fc.constant('x'.repeat(max + 1)), fc.constant(''), wrong);
  }
  // Type.Unknown: ttlSeconds/timeoutMs (checked by the handler) and payload.
  return fc.oneof(
    fc.integer({ min: -2, max: 5 }),
    fc.constantFrom(0, 1, 50, 2_419_200, 2_419_201, 60_000, 60_001, 1.5, -0, 1e308),
    fc.jsonValue({ maxDepth: 3 }),
    fc.constant('x'.repeat(2000)), // over the payload limit configured below
    fc.constant(JSON.parse('['.repeat(80) + ']'.repeat(80))), // deeper than MAX_JSON_DEPTH
    wrong,
  );
}

function bodyFor(schema: any): fc.Arbitrary<Record<string, unknown>> {
  const props: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [k, s] of Object.entries(schema.properties as Record<string, unknown>)) props[k] = valuesFor(s);
  props.extra = fc.jsonValue({ maxDepth: 1 }); // unknown properties are ignored by contract
  return fc.record(props, { requiredKeys: [] });
}

/**
 * fastify validates with ajv `coerceTypes: 'array'` (its default): for a string property a
 * number or boolean becomes its text, null becomes '', and a one-element array its element.
 * The oracle applies the same coercion before asking whether the schema accepts the body
 * (documented in docs/security.md: `"idempotencyKey": 7` is accepted as "7").
 */
function ajvCoerced(schema: any, body: unknown): unknown {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  const out: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  for (const [k, s] of Object.entries(schema.properties as Record<string, any>)) {
    if (s.type !== 'string' || !(k in out)) continue;
    let v = out[k];
    if (Array.isArray(v) && v.length === 1) v = v[0];
    if (typeof v === 'number' || typeof v === 'boolean') v = String(v);
    else if (v === null) v = '';
    out[k] = v;
  }
  return out;
}

type Req = { kind: 'send' | 'request' | 'presence'; id: string; body?: unknown; raw?: string; contentType?: string };

const contentType = fc.constantFrom('application/json', 'application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', undefined);
const anyBody = (schema: any) => fc.oneof({ weight: 6, arbitrary: bodyFor(schema) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) });
const rawBody = fc.constantFrom('', '{', '{"payload":', 'null', '[]', '{"payload":1,}', '\u0000', '{"payload":1}{"payload":2}', '{"__proto__":{"polluted":1},"payload":1}', '{"constructor":{"prototype":{"x":1}},"payload":1}');

/** Schema-valid sends (small payload, valid ttl, keys from a small set so collapse/idempotency happen). */
const validSend = fc.record(
  { payload: fc.jsonValue({ maxDepth: 2 }).filter((v) => JSON.stringify(v).length < 500), ttlSeconds: fc.integer({ min: 1, max: 3600 }), collapseKey: fc.constantFrom('k1', 'k2'), idempotencyKey: fc.constantFrom('i1', 'i2', 'i3') },
  { requiredKeys: ['payload'] },
);

const reqArb: fc.Arbitrary<Req> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('send' as const), id: validId, body: validSend, contentType: fc.constant('application/json') }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('send' as const), id: fc.oneof({ weight: 4, arbitrary: validId }, { weight: 1, arbitrary: hostileId }), body: anyBody(SendBody), contentType }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('send' as const), id: validId, raw: rawBody, contentType: fc.constant('application/json') }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('request' as const), id: fc.oneof(fc.constantFrom('fzr-1', 'fzr-2'), hostileId), body: anyBody(RequestBody), contentType }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('presence' as const), id: fc.oneof(validId, hostileId) }) },
);

describe('sender API fuzzing from the route schemas', () => {
  let t: TestGateway;
  const seqs = new Map<string, Set<number>>();
  const requested = new Set<string>();
  beforeAll(async () => {
    // Small limits so the boundaries are reachable; requests time out fast (no terminal is connected).
    t = await startGateway({ mqtt: false, config: { maxPayloadBytes: 1024, requestTimeoutMs: 30, maxTtlSeconds: 2_419_200 } });
  });
  afterAll(() => t.close());

  it('every response is well-formed and consistent with the schemas (400 random requests)', async () => {
    await fc.assert(
      fc.asyncProperty(reqArb, async (r) => {
        let body = r.raw ?? (r.body === undefined ? undefined : JSON.stringify(r.body));
        if (r.kind === 'request' && r.body && typeof r.body === 'object' && !Array.isArray(r.body)) {
          // Keep waits short: a valid timeoutMs is clamped to 50 ms.
          const b = r.body as Record<string, unknown>;
          if (typeof b.timeoutMs === 'number' && b.timeoutMs > 50) body = JSON.stringify({ ...b, timeoutMs: 50 });
        }
        const path = `/v1/terminals/${encodeURIComponent(r.id)}${r.kind === 'send' ? '/messages' : r.kind === 'request' ? '/requests' : ''}`;
        const headers: Record<string, string> = { authorization: `Bearer ${t.apiKey}` };
        if (r.contentType && body !== undefined) headers['content-type'] = r.contentType;
        const res = await fetch(t.base + path, { method: r.kind === 'presence' ? 'GET' : 'POST', headers, body: r.kind === 'presence' ? undefined : body });
        const text = await res.text();
        const json = (() => {
          try {
            return JSON.parse(text) as any;
          } catch {
            return undefined;
          }
        })();
        const where = `${r.kind} ${path} ${String(body).slice(0, 200)} -> ${res.status} ${text.slice(0, 200)}`;
        expect(json, where).toBeDefined();
        if (res.status >= 500) expect(json.code, where).toBe('PCM_ERR_REQUEST_TIMEOUT');
        if (res.status >= 400) {
          expect(Object.keys(ERROR_CATALOGUE), where).toContain(json.code);
          expect(ERROR_CATALOGUE[json.code as keyof typeof ERROR_CATALOGUE].status, where).toBe(res.status);
          expect(typeof json.message, where).toBe('string');
        }
        if (r.kind === 'request') requested.add(r.id);
        if (r.kind === 'send' && r.body !== undefined && r.contentType?.startsWith('application/json') && !Value.Check(SendBody, ajvCoerced(SendBody, r.body))) {
          expect(res.status, where).toBeGreaterThanOrEqual(400);
          expect(res.status, where).toBeLessThan(500);
        }
        if (res.status === 202) {
          expect(Value.Check(SendResponse, json), where).toBe(true);
          const set = seqs.get(r.id) ?? new Set<number>();
          set.add(json.seq);
          seqs.set(r.id, set);
        }
        if (r.kind === 'presence' && res.status === 200) expect(Value.Check(PresenceResponse, json), where).toBe(true);
      }),
      { numRuns: 400 },
    );
  }, 120_000);

  it('rejected sends consumed no seq: each terminal\'s 202 seqs are exactly 1..counter', async () => {
    let checked = 0;
    for (const [id, set] of seqs) {
      if (requested.has(id)) continue; // /requests also takes seqs
      const state = await t.store.state(id);
      expect([...set].sort((a, b) => a - b), id).toEqual(Array.from({ length: state.lastSeq }, (_, i) => i + 1));
      checked += set.size;
    }
    expect(checked).toBeGreaterThanOrEqual(20); // enough accepted sends for the check to bite
  });

  it('prototype pollution attempts in bodies did not pollute anything', () => {
    expect(({} as any).polluted).toBeUndefined();
    expect(({} as any).x).toBeUndefined();
  });
});
