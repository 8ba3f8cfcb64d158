import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SignJWT } from 'jose';
import type { FastifyInstance } from 'fastify';
import { silentLogger } from '../../common/logger.js';
import { mintTerminalToken } from '../../protocol/token.js';
import { buildDiscoveryApp } from './app.js';
import { StaticGatewaySource } from '../sources/static.js';
import { FileGatewaySource } from '../sources/file.js';
import { assignGateway } from '../core/assignment.js';

const SECRET = 'discovery-test-secret-0123456789';
const gateways = [
  { id: 'gw-0', websocketUrl: 'ws://127.0.0.1:9000/v1/connect', mqttUrl: 'mqtt://127.0.0.1:9001' },
  { id: 'gw-1', websocketUrl: 'ws://127.0.0.1:9100/v1/connect', mqttUrl: 'mqtt://127.0.0.1:9101' },
  { id: 'gw-2', websocketUrl: 'ws://127.0.0.1:9200/v1/connect', mqttUrl: 'mqtt://127.0.0.1:9201', draining: true },
];

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
}

const get = (base: string, p: string, token?: string) => fetch(base + p, { headers: token ? { authorization: `Bearer ${token}` } : {} });

describe('discovery HTTP (real fastify, real JWTs)', () => {
  let app: FastifyInstance;
  let base: string;
  beforeAll(async () => {
    app = buildDiscoveryApp({ config: { terminalJwtSecret: SECRET, discoveryPollSeconds: 45 }, source: new StaticGatewaySource(gateways, 7), logger: silentLogger });
    base = await listen(app);
  });
  afterAll(() => app.close());

  it('200 with the rendezvous assignment, pollAfterSeconds, generation and private Cache-Control', async () => {
    const res = await get(base, '/v1/discovery/term-42', await mintTerminalToken(SECRET, 'term-42'));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('private, max-age=45');
    const body = await res.json();
    const expected = assignGateway('term-42', new StaticGatewaySource(gateways).current().gateways)!;
    expect(body).toEqual({
      terminalId: 'term-42',
      gatewayId: expected.id,
      websocketUrl: expected.websocketUrl,
      mqttUrl: expected.mqttUrl,
      pollAfterSeconds: 45,
      generation: 7,
    });
  });

  it('never assigns the draining gateway', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const id = `t-${i}`;
      const body = (await (await get(base, `/v1/discovery/${id}`, await mintTerminalToken(SECRET, id))).json()) as { gatewayId: string };
      seen.add(body.gatewayId);
    }
    expect([...seen].sort()).toEqual(['gw-0', 'gw-1']);
  });

  it.each([
    ['no token', undefined, 'PCM_ERR_UNAUTHORIZED'],
    ['garbage token', 'not-a-jwt', 'PCM_ERR_UNAUTHORIZED'],
    ['token signed with another secret', 'other', 'PCM_ERR_UNAUTHORIZED'],
    ['expired token', 'expired', 'PCM_ERR_TOKEN_EXPIRED'],
  ])('401 for %s', async (_name, kind, code) => {
    let token = kind;
    if (kind === 'other') token = await mintTerminalToken('another-secret-0123456789abcdef', 'term-1');
    if (kind === 'expired') {
      token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('term-1').setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(new TextEncoder().encode(SECRET));
    }
    const res = await get(base, '/v1/discovery/term-1', token);
    expect(res.status).toBe(401);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(((await res.json()) as { code: string }).code).toBe(code);
  });

  it("403 when the token's subject is another terminal", async () => {
    const res = await get(base, '/v1/discovery/term-2', await mintTerminalToken(SECRET, 'term-1'));
    expect(res.status).toBe(403);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe('PCM_ERR_FORBIDDEN');
    expect(body.message).toContain('term-2');
  });

  it('400 for an invalid terminal id in the path', async () => {
    const res = await get(base, '/v1/discovery/bad%20id', await mintTerminalToken(SECRET, 'term-1'));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('PCM_ERR_INVALID_TERMINAL_ID');
  });

  it('failover: ?unreachable=<its gateway> answers the other assignable gateway and counts it; other ids change nothing', async () => {
    const before = await (await get(base, '/metrics')).text();
    const count = (text: string, gw: string) => Number(new RegExp(`pcm_discovery_failovers_total\\{gateway="${gw}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    let moved = 0;
    for (let i = 0; i < 20; i++) {
      const id = `fo-${i}`;
      const token = await mintTerminalToken(SECRET, id);
      const home = ((await (await get(base, `/v1/discovery/${id}`, token)).json()) as { gatewayId: string }).gatewayId;
      const other = home === 'gw-0' ? 'gw-1' : 'gw-0';
      const res = await get(base, `/v1/discovery/${id}?unreachable=${home}`, token);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { gatewayId: string; websocketUrl: string };
      expect(body.gatewayId).toBe(other); // never the draining gw-2
      expect(body.websocketUrl).toBe(gateways.find((g) => g.id === other)!.websocketUrl);
      if (home === 'gw-0') moved++;
      // naming a gateway that is not its own (or one discovery does not know) changes nothing
      const same = (await (await get(base, `/v1/discovery/${id}?unreachable=${other === 'gw-0' ? 'gw-2' : 'gw-2,nope'}`, token)).json()) as { gatewayId: string };
      expect(same.gatewayId).toBe(home);
      // every assignable gateway unreachable: the home gateway (nothing better to offer)
      const both = (await (await get(base, `/v1/discovery/${id}?unreachable=gw-1,gw-0`, token)).json()) as { gatewayId: string };
      expect(both.gatewayId).toBe(home);
    }
    const after = await (await get(base, '/metrics')).text();
    expect(count(after, 'gw-0') - count(before, 'gw-0')).toBe(moved);
    expect(count(after, 'gw-0') + count(after, 'gw-1') - count(before, 'gw-0') - count(before, 'gw-1')).toBe(20);
  });

  it.each([
    ['a bad character', 'gw 0'],
    ['an empty id', 'gw-0,'],
    ['more than 8 ids', Array.from({ length: 9 }, (_, i) => `gw-${i}`).join(',')],
    ['an id over 63 characters', 'g'.repeat(64)],
  ])('400 PCM_ERR_BAD_REQUEST for unreachable with %s', async (_name, value) => {
    const res = await get(base, `/v1/discovery/term-1?unreachable=${encodeURIComponent(value)}`, await mintTerminalToken(SECRET, 'term-1'));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe('PCM_ERR_BAD_REQUEST');
    expect(body.message).toContain('unreachable');
  });

  it('healthz, readyz and metrics (requests by outcome, generation)', async () => {
    expect((await get(base, '/healthz')).status).toBe(200);
    const ready = await get(base, '/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', generation: 7, gateways: 3 });
    const text = await (await get(base, '/metrics')).text();
    expect(text).toMatch(/pcm_discovery_assignment_generation 7/);
    expect(text).toMatch(/pcm_discovery_requests_total\{outcome="ok"\} \d+/);
    expect(text).toMatch(/pcm_discovery_requests_total\{outcome="forbidden"\} 1/);
    expect(text).toMatch(/pcm_discovery_gateways\{state="draining"\} 1/);
  });
});

describe('discovery with no assignable gateway, and a live file source', () => {
  let dir: string;
  let app: FastifyInstance;
  let base: string;
  let file: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-disc-'));
    file = path.join(dir, 'gateways.json');
    writeFileSync(file, JSON.stringify({ generation: 1, gateways: [{ ...gateways[0], draining: true }] }));
    const source = new FileGatewaySource({ path: file, pollMs: 100, logger: silentLogger });
    app = buildDiscoveryApp({ config: { terminalJwtSecret: SECRET, discoveryPollSeconds: 30 }, source, logger: silentLogger });
    base = await listen(app);
    await source.ready();
  });
  afterAll(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('503 PCM_ERR_NO_GATEWAY while only draining gateways exist, 200 once one is added', async () => {
    const token = await mintTerminalToken(SECRET, 'term-7');
    const res = await get(base, '/v1/discovery/term-7', token);
    expect(res.status).toBe(503);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(((await res.json()) as { code: string }).code).toBe('PCM_ERR_NO_GATEWAY');

    writeFileSync(file, JSON.stringify({ generation: 2, gateways: [{ ...gateways[0], draining: true }, gateways[1]] }));
    const end = Date.now() + 5000;
    let last: Response;
    do {
      await new Promise((r) => setTimeout(r, 50));
      last = await get(base, '/v1/discovery/term-7', token);
    } while (last.status !== 200 && Date.now() < end);
    expect(last.status).toBe(200);
    expect(await last.json()).toMatchObject({ gatewayId: 'gw-1', generation: 2, pollAfterSeconds: 30 });
  });
});
