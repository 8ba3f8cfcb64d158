/**
 * Per-terminal timeline (issue 9): a real gateway, the SDK terminal over WebSocket and MQTT,
 * GET /v1/terminals/{id}/events and `pcm events`; bounds of the memory and SQLite adapters.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PcmClient, MemoryDuplicateStore } from '../../client/index.js';
import type { Protocol } from '../../protocol/frames.js';
import { MemoryTimeline } from '../../gateway/adapters/timeline/memory-timeline.js';
import { SqliteTimeline } from '../../gateway/adapters/timeline/sqlite-timeline.js';
import type { Timeline } from '../../gateway/ports/timeline.js';
import { startGateway, type TestGateway } from './harness.js';

const run = promisify(execFile);
const repoRoot = path.resolve(import.meta.dirname, '../..');
const FAST = { heartbeatMs: 2000, backoff: { baseMs: 50, capMs: 500 }, connectTimeoutMs: 3000 };

let t: TestGateway;
beforeAll(async () => {
  t = await startGateway({});
});
afterAll(async () => {
  await t?.close();
});

async function events(id: string, key?: string | null): Promise<{ status: number; body: any }> {
  return t.get(`/v1/terminals/${id}/events?limit=100`, key);
}

describe.each<Protocol>(['websocket', 'mqtt'])('timeline over %s', (protocol) => {
  it('records connect, sent, delivered, acked, request, reply and disconnect with reason', async () => {
    const id = `tl-${protocol}`;
    const c = new PcmClient({
      terminalId: id,
      token: await t.token(id),
      protocol,
      url: protocol === 'websocket' ? `ws://127.0.0.1:${t.httpPort}/v1/connect` : `mqtt://127.0.0.1:${t.mqttPort}`,
      overrides: FAST,
      duplicateStore: new MemoryDuplicateStore(),
      handler: (m) => ({ echo: m.payload }),
    });
    const connected = new Promise((r) => c.once('connected', r));
    c.start();
    await connected;
    const sent = await t.send(id, { payload: { hello: 1 } });
    expect(sent.status).toBe(202);
    const req = await t.post(`/v1/terminals/${id}/requests`, { payload: 'ping', timeoutMs: 5000 });
    expect(req.status).toBe(200);
    let body: any;
    for (let i = 0; i < 100; i++) {
      body = (await events(id)).body;
      if (body.events.filter((e: any) => e.type === 'acked').length >= 2) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await c.stop();
    for (let i = 0; i < 100; i++) {
      body = (await events(id)).body;
      if (body.events.some((e: any) => e.type === 'disconnected')) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(body.terminalId).toBe(id);
    const oldestFirst = [...body.events].reverse();
    const types = oldestFirst.map((e: any) => e.type);
    // Order of the first message's life, then the request's.
    expect(types[0]).toBe('connected');
    const at = (type: string, seq?: number) => oldestFirst.findIndex((e: any) => e.type === type && (seq === undefined || e.seq === seq));
    const s1 = sent.body.seq;
    const s2 = req.body.seq;
    expect(at('sent', s1)).toBeLessThan(at('delivered', s1));
    expect(at('delivered', s1)).toBeLessThan(at('acked', s1));
    expect(at('request', s2)).toBeGreaterThan(-1);
    expect(at('request', s2)).toBeLessThan(at('delivered', s2));
    expect(at('delivered', s2)).toBeLessThan(at('reply'));
    expect(types[types.length - 1]).toBe('disconnected');
    const delivered = oldestFirst[at('delivered', s1)];
    expect(delivered).toMatchObject({ terminalId: id, messageId: sent.body.messageId, protocol, gatewayId: 'gw-0' });
    expect(typeof oldestFirst[types.length - 1].reason).toBe('string');
    // newest first, timestamps non-increasing
    for (let i = 1; i < body.events.length; i++) expect(body.events[i - 1].at).toBeGreaterThanOrEqual(body.events[i].at);
  });
});

describe('timeline API', () => {
  it('records an expired ttl-0 message for an offline terminal', async () => {
    const r = await t.send('tl-offline', { payload: 1, ttlSeconds: 0 });
    expect(r.body.status).toBe('dropped');
    const { body } = await events('tl-offline');
    expect(body.events.map((e: any) => e.type)).toEqual(['expired', 'sent']);
    expect(body.events[0].reason).toMatch(/not connected/);
  });

  it('needs a sender API key and a valid terminal id; limit is bounded', async () => {
    expect((await events('tl-offline', null)).status).toBe(401);
    expect((await events('tl-offline', 'not-a-key-000')).status).toBe(401);
    expect((await events('bad%20id')).status).toBe(400);
    expect((await t.get('/v1/terminals/tl-offline/events?limit=0')).status).toBe(400);
    expect((await t.get('/v1/terminals/tl-offline/events?limit=1')).body.events).toHaveLength(1);
    expect((await events('tl-never-seen')).body).toEqual({ terminalId: 'tl-never-seen', events: [] });
  });

  it('pcm events prints the timeline oldest first; --json prints the response', async () => {
    const env = { ...process.env, PCM_SENDER_URL: t.base, PCM_API_KEY: t.apiKey };
    const text = await run(process.execPath, [path.join(repoRoot, 'bin/pcm.js'), 'events', 'tl-offline'], { env, timeout: 30_000 });
    const lines = text.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT.*Z {2}sent {9}1 /);
    expect(lines[1]).toMatch(/expired .*reason="ttl 0: terminal not connected"/);
    const json = await run(process.execPath, [path.join(repoRoot, 'bin/pcm.js'), 'events', 'tl-offline', '--json', '--limit', '1'], { env, timeout: 30_000 });
    expect(JSON.parse(json.stdout).events).toHaveLength(1);
    const bad = await run(process.execPath, [path.join(repoRoot, 'bin/pcm.js'), 'events', 'tl-offline'], { env: { ...env, PCM_API_KEY: 'wrong-key-123' }, timeout: 30_000 }).catch((e) => e);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/PCM_ERR_UNAUTHORIZED/);
  }, 120_000); // three tsx CLI launches on a shared 2-core machine
});

describe.each<[string, (now: () => number, dir: string) => Timeline]>([
  ['memory', (now) => new MemoryTimeline({ maxPerTerminal: 5, ttlMs: 1000 }, now)],
  ['sqlite', (now, dir) => new SqliteTimeline(path.join(dir, 'timeline.sqlite'), { maxPerTerminal: 5, ttlMs: 1000 }, now)],
])('%s timeline bounds', (_name, make) => {
  it('keeps the newest N per terminal and drops events older than the TTL', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pcm-tl-'));
    let now = 10_000;
    const tl = make(() => now, dir);
    try {
      for (let i = 1; i <= 12; i++) tl.record({ terminalId: 'a', type: 'sent', seq: i, at: now + i });
      tl.record({ terminalId: 'b', type: 'connected', at: now });
      const a = await tl.recent('a');
      expect(a.map((e) => e.seq)).toEqual([12, 11, 10, 9, 8]);
      expect((await tl.recent('a', 2)).map((e) => e.seq)).toEqual([12, 11]);
      expect(await tl.recent('b')).toHaveLength(1);
      now += 2000; // past the TTL
      tl.record({ terminalId: 'a', type: 'acked', seq: 12, at: now });
      expect((await tl.recent('a')).map((e) => e.type)).toEqual(['acked']);
      expect(await tl.recent('b')).toEqual([]);
    } finally {
      await tl.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sqlite timeline', () => {
  it('survives a reopen (events flushed on close)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pcm-tl-'));
    try {
      const file = path.join(dir, 'timeline.sqlite');
      const first = new SqliteTimeline(file);
      first.record({ terminalId: 'x', type: 'connected', at: Date.now(), protocol: 'mqtt' });
      await first.close();
      const second = new SqliteTimeline(file);
      expect(await second.recent('x')).toMatchObject([{ terminalId: 'x', type: 'connected', protocol: 'mqtt' }]);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
