/**
 * Issue 9 acceptance: the OpenAPI document validates (3.x, every operation has responses) and
 * matches the routes fastify really serves, in both directions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from './harness.js';
import { UNDOCUMENTED_ROUTES } from '../../gateway/adapters/http/openapi.js';
import { TERMINAL_ID_PATTERN } from '../../protocol/terminal-id.js';
import { MISSION_CONTROL_PAGE_ROUTES } from '../../gateway/adapters/http/mission-control/page-routes.js';
import type { FastifyInstance } from 'fastify';
import { silentLogger } from '../../common/logger.js';
import { buildDiscoveryApp } from '../../discovery/http/app.js';
import { StaticGatewaySource } from '../../discovery/sources/static.js';
import { loadConfig } from '../../common/config.js';
import { DiscoveryConfigSchema } from '../../discovery/config.js';

let t: TestGateway;
let doc: any;
beforeAll(async () => {
  t = await startGateway({ config: { adminKeys: ['admin-key-0123456789'] } });
  const res = await fetch(`${t.base}/openapi.json`);
  expect(res.status).toBe(200);
  doc = await res.json();
});
afterAll(async () => {
  await t?.close();
});

/** Every (method, url) fastify routes, rebuilt from printRoutes' tree (4 columns per level). */
function registeredRoutes(app: FastifyInstance = t.gw.app): Array<{ method: string; url: string }> {
  const out: Array<{ method: string; url: string }> = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│├└─\s]*)(\S+?)(?: \(([^)]*)\))?$/.exec(line);
    if (!m || !m[2]) continue;
    const depth = Math.floor(m[1]!.length / 4);
    stack.length = depth;
    stack.push(m[2]);
    const url = stack.join('');
    for (const method of (m[3] ?? '').split(',').map((s) => s.trim()).filter(Boolean)) out.push({ method, url });
  }
  return out;
}
const toOpenApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

describe('OpenAPI document', () => {
  it('is OpenAPI 3.x with info, and every operation has responses with descriptions', () => {
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info.title).toBe('PCM gateway');
    expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+/);
    const ops = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([p, item]) => Object.entries(item).map(([m, op]) => ({ p, m, op })));
    expect(ops.length).toBeGreaterThanOrEqual(15);
    for (const { p, m, op } of ops) {
      expect(['get', 'post', 'put', 'delete', 'patch'], `${m} ${p}`).toContain(m);
      expect(Object.keys(op.responses ?? {}).length, `${m} ${p} has responses`).toBeGreaterThan(0);
      for (const r of Object.values(op.responses) as any[]) expect(typeof r.description, `${m} ${p} response description`).toBe('string');
      // path parameters declared for every {param} in the path
      for (const [, name] of p.matchAll(/\{(\w+)\}/g)) expect(op.parameters?.some((x: any) => x.in === 'path' && x.name === name), `${m} ${p} declares ${name}`).toBe(true);
    }
  });

  it('documents every served route and serves every documented one', () => {
    const skip = new Set([...UNDOCUMENTED_ROUTES, ...MISSION_CONTROL_PAGE_ROUTES]);
    const routes = registeredRoutes().filter((r) => r.method !== 'HEAD' && !skip.has(r.url));
    expect(routes.length).toBeGreaterThanOrEqual(15);
    expect(routes).toContainEqual({ method: 'POST', url: '/v1/terminals/:id/messages' });
    for (const r of routes) expect(doc.paths[toOpenApiPath(r.url)]?.[r.method.toLowerCase()], `${r.method} ${r.url} documented`).toBeDefined();
    for (const [p, item] of Object.entries(doc.paths as Record<string, object>)) {
      for (const m of Object.keys(item)) {
        expect(t.gw.app.hasRoute({ method: m.toUpperCase() as 'GET', url: p.replace(/\{(\w+)\}/g, ':$1') }), `${m} ${p} served`).toBe(true);
      }
    }
  });

  it('carries the sender contract from the route schemas (DESIGN.md section 5)', () => {
    const send = doc.paths['/v1/terminals/{id}/messages'].post;
    expect(send.requestBody.content['application/json'].schema.properties).toHaveProperty('payload');
    expect(send.responses['202'].content['application/json'].schema.required).toEqual(expect.arrayContaining(['terminalId', 'seq', 'messageId', 'status']));
    expect(send.security).toEqual([{ bearer: [] }]);
    expect(send.responses.default.content['application/json'].schema.$ref).toBe('#/components/schemas/Error');
    expect(doc.paths['/v1/connect'].get.responses['101']).toBeDefined();
    expect(doc.components.securitySchemes.bearer.scheme).toBe('bearer');
  });

  it('documents the rules the handlers check (found by schemathesis, issue 8)', () => {
    // The runtime schemas stay loose so the handlers give their own codes; the document shows the real rules.
    for (const [p, m] of [['/v1/terminals/{id}/messages', 'post'], ['/v1/terminals/{id}/requests', 'post'], ['/v1/terminals/{id}', 'get'], ['/v1/terminals/{id}/events', 'get'], ['/v1/admin/terminals/{id}', 'get']] as const) {
      const id = doc.paths[p][m].parameters.find((x: any) => x.in === 'path' && x.name === 'id');
      expect(id.schema, `${m} ${p}`).toMatchObject({ type: 'string', pattern: TERMINAL_ID_PATTERN, maxLength: 128 });
    }
    const send = doc.paths['/v1/terminals/{id}/messages'].post.requestBody.content['application/json'].schema;
    expect(send.properties.ttlSeconds).toMatchObject({ type: 'integer', minimum: 0, maximum: 2_419_200 }); // the default PCM_MAX_TTL_SECONDS
    const request = doc.paths['/v1/terminals/{id}/requests'].post;
    expect(request.requestBody.content['application/json'].schema.properties.timeoutMs).toMatchObject({ type: 'integer', minimum: 1, maximum: 60_000 });
    // The contract's statuses (DESIGN.md section 5) are listed, not only covered by `default`.
    expect(Object.keys(request.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '413', '429', '503', '504', 'default']));
    expect(Object.keys(doc.paths['/v1/terminals/{id}/messages'].post.responses)).toEqual(expect.arrayContaining(['202', '400', '401', '413', '429', '503']));
    expect(request.responses['504'].content['application/json'].schema.$ref).toBe('#/components/schemas/Error');
  });

  it('a gateway documents its own PCM_MAX_TTL_SECONDS', async () => {
    const g = await startGateway({ mqtt: false, config: { maxTtlSeconds: 3600 } });
    try {
      const d = (await (await fetch(`${g.base}/openapi.json`)).json()) as any;
      expect(d.paths['/v1/terminals/{id}/messages'].post.requestBody.content['application/json'].schema.properties.ttlSeconds.maximum).toBe(3600);
    } finally {
      await g.close();
    }
  });

  it('serves a self-contained docs page (no external script or style)', async () => {
    const res = await fetch(`${t.base}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toContain("fetch('openapi.json')");
    expect(html).not.toMatch(/https?:\/\//);
  });
});

describe('discovery OpenAPI document', () => {
  it('documents GET /v1/discovery/{terminalId} and every other route, and serves /docs', async () => {
    const config = loadConfig(DiscoveryConfigSchema, { env: { PCM_TERMINAL_JWT_SECRET: 'discovery-openapi-secret-0123456789' } });
    const app = buildDiscoveryApp({ config, source: new StaticGatewaySource([{ id: 'gw-0', websocketUrl: 'ws://127.0.0.1:1/v1/connect', mqttUrl: 'mqtt://127.0.0.1:2' }]), logger: silentLogger });
    try {
      await app.listen({ port: 0, host: '127.0.0.1' });
      const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
      const d = (await (await fetch(`${base}/openapi.json`)).json()) as any;
      expect(d.openapi).toMatch(/^3\./);
      expect(d.info.title).toBe('PCM discovery');
      const op = d.paths['/v1/discovery/{terminalId}'].get;
      expect(op.parameters).toContainEqual(expect.objectContaining({ in: 'path', name: 'terminalId', required: true }));
      expect(op.security).toEqual([{ bearer: [] }]);
      const routes = registeredRoutes(app).filter((r) => r.method !== 'HEAD' && !UNDOCUMENTED_ROUTES.includes(r.url));
      expect(routes.map((r) => r.url).sort()).toEqual(['/healthz', '/metrics', '/readyz', '/v1/discovery/:terminalId']);
      for (const r of routes) expect(d.paths[toOpenApiPath(r.url)]?.[r.method.toLowerCase()], `${r.method} ${r.url}`).toBeDefined();
      expect(Object.keys(d.paths).sort()).toEqual(routes.map((r) => toOpenApiPath(r.url)).sort());
      expect((await fetch(`${base}/docs`)).status).toBe(200);
      // Router errors in the one error shape, as on the gateway (issue 8).
      for (const bad of [`/v1/discovery/${'a'.repeat(201)}`, '/v1/discovery/%ZZ']) {
        const res = await fetch(base + bad);
        expect(res.status, bad).toBe(400);
        expect(await res.json(), bad).toEqual({ code: 'PCM_ERR_BAD_REQUEST', message: expect.any(String) });
      }
    } finally {
      await app.close();
    }
  });
});
