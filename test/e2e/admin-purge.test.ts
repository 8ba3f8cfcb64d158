/**
 * Admin purge, `DELETE /v1/admin/terminals/{id}/messages` (docs/mission-control.md), through the
 * real HTTP API on the durable SQLite store: every message pending when the purge starts is
 * acked on the terminal's behalf and never delivered; messages accepted afterwards are; a
 * connected terminal's session follows; a full queue (PCM_ERR_QUEUE_FULL) takes sends again.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, startGateway, WsTerminal, type TestGateway } from './harness.js';

const ADMIN_KEY = 'purge-admin-key-0123456789';
const run = promisify(execFile);
const pcm = fileURLToPath(new URL('../../bin/pcm.js', import.meta.url));

describe('admin purge (sqlite store)', () => {
  let t: TestGateway;
  const purge = (id: string, key: string | null = ADMIN_KEY) =>
    fetch(`${t.base}/v1/admin/terminals/${encodeURIComponent(id)}/messages`, { method: 'DELETE', headers: key ? { authorization: `Bearer ${key}` } : {} }).then(async (r) => ({
      status: r.status,
      body: (await r.json()) as any,
    }));

  beforeAll(async () => {
    t = await startGateway({ sqlite: true, config: { adminKeys: [ADMIN_KEY], maxPendingPerTerminal: 5, deliveryWindow: 3 } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('an offline terminal: its pending messages are never delivered, later ones are', async () => {
    const id = 'purge-offline';
    for (let i = 1; i <= 4; i++) expect((await t.send(id, { payload: { n: i } })).status).toBe(202);
    const r = await purge(id);
    expect(r).toEqual({ status: 200, body: { terminalId: id, purged: 4, lastAckedSeq: 4 } });
    expect((await t.get(`/v1/terminals/${id}`)).body).toMatchObject({ pending: 0, lastAckedSeq: 4 });
    expect((await t.send(id, { payload: { n: 5 } })).body.seq).toBe(5);
    const term = await WsTerminal.open(t, id);
    try {
      const [m] = await term.waitMessages(1);
      expect(m).toMatchObject({ seq: 5, payload: { n: 5 } });
      await sleep(200);
      expect(term.frames.filter((f) => f.type === 'message')).toHaveLength(1);
    } finally {
      await term.close();
    }
    // nothing left: a second purge purges nothing and moves nothing
    expect((await purge(id)).body).toEqual({ terminalId: id, purged: 1, lastAckedSeq: 5 });
    expect((await purge(id)).body).toEqual({ terminalId: id, purged: 0, lastAckedSeq: 5 });
  });

  it('GET /v1/admin/terminals/{id}/messages lists the oldest pending messages, without payloads', async () => {
    const id = 'peek-1';
    const admin = (q = '', key: string | null = ADMIN_KEY) =>
      fetch(`${t.base}/v1/admin/terminals/${id}/messages${q}`, { headers: key ? { authorization: `Bearer ${key}` } : {} }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
    const a = await t.send(id, { payload: { secret: 'card-4111' }, ttlSeconds: 600 });
    await t.send(id, { payload: 'x'.repeat(100), collapseKey: 'cfg' });
    await t.send(id, { payload: 3, ttlSeconds: 1 });
    const r = await admin();
    expect(r.status).toBe(200);
    expect(r.body.terminalId).toBe(id);
    expect(r.body.messages.map((m: any) => m.seq)).toEqual([1, 2, 3]);
    expect(r.body.messages[0]).toEqual({ seq: 1, messageId: a.body.messageId, createdAt: expect.any(Number), expiresAt: expect.any(Number), payloadBytes: 22 });
    expect(r.body.messages[0].expiresAt - r.body.messages[0].createdAt).toBe(600_000);
    expect(r.body.messages[1]).toMatchObject({ seq: 2, collapseKey: 'cfg', payloadBytes: 102 });
    expect(JSON.stringify(r.body)).not.toContain('card-4111');
    expect((await admin('?limit=2')).body.messages).toHaveLength(2);
    await sleep(1_100); // seq 3 expires: not pending any more
    expect((await admin()).body.messages.map((m: any) => m.seq)).toEqual([1, 2]);
    expect((await admin('', t.apiKey)).status).toBe(401);
    expect((await admin('?limit=0')).status).toBe(400);
  });

  it('a full queue (PCM_ERR_QUEUE_FULL) takes sends again right after a purge', async () => {
    const id = 'purge-full';
    for (let i = 0; i < 5; i++) expect((await t.send(id, { payload: i })).status).toBe(202);
    expect((await t.send(id, { payload: 'refused' })).body.code).toBe('PCM_ERR_QUEUE_FULL');
    expect((await purge(id)).body.purged).toBe(5);
    const again = await t.send(id, { payload: 'after' });
    expect(again.status).toBe(202);
    expect(again.body.seq).toBe(6);
  });

  it('a connected terminal that does not ack: its full in-flight window (3) is released and new messages flow', async () => {
    const id = 'purge-online';
    const term = await WsTerminal.open(t, id);
    try {
      for (let i = 1; i <= 3; i++) expect((await t.send(id, { payload: { n: i } })).status).toBe(202);
      await term.waitMessages(3); // written, never acked
      const r = await purge(id);
      expect(r.body).toEqual({ terminalId: id, purged: 3, lastAckedSeq: 3 });
      expect((await t.send(id, { payload: { n: 4 } })).body.seq).toBe(4);
      const got = await term.waitMessages(4);
      expect(got.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
      term.ack(2); // a stale ack from before the purge: harmless, no error frame
      term.ack(4);
      await sleep(200);
      expect(term.frames.filter((f) => f.type === 'error')).toEqual([]);
      expect((await t.get(`/v1/terminals/${id}`)).body).toMatchObject({ pending: 0, lastAckedSeq: 4 });
    } finally {
      await term.close();
    }
  });

  it('refuses a missing key, a sender API key and a bad terminal id, changing nothing', async () => {
    const id = 'purge-refused';
    expect((await t.send(id, { payload: 1 })).status).toBe(202);
    expect((await purge(id, null)).status).toBe(401);
    expect((await purge(id, t.apiKey)).body.code).toBe('PCM_ERR_UNAUTHORIZED');
    expect((await purge('bad id!')).body.code).toBe('PCM_ERR_INVALID_TERMINAL_ID');
    expect((await t.get(`/v1/terminals/${id}`)).body).toMatchObject({ pending: 1, lastAckedSeq: 0 });
  });

  it('pcm purge shows what is pending without --yes, purges with it, and needs the admin key', async () => {
    const id = 'purge-cli';
    for (let i = 0; i < 2; i++) expect((await t.send(id, { payload: i })).status).toBe(202);
    const env = { ...process.env, PCM_SENDER_URL: t.base, PCM_ADMIN_KEY: ADMIN_KEY };
    const dry = await run(process.execPath, [pcm, 'purge', id], { env, timeout: 30_000 });
    expect(dry.stdout).toMatch(/purge-cli: 2 pending message\(s\), ack cursor at 0, offline\nnothing purged: run again with --yes/);
    expect((await t.get(`/v1/terminals/${id}`)).body.pending).toBe(2);
    const done = await run(process.execPath, [pcm, 'purge', id, '--yes'], { env, timeout: 30_000 });
    expect(JSON.parse(done.stdout)).toEqual({ terminalId: id, purged: 2, lastAckedSeq: 2 });
    const bad = await run(process.execPath, [pcm, 'purge', id, '--yes'], { env: { ...env, PCM_ADMIN_KEY: t.apiKey }, timeout: 30_000 }).catch((e) => e);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/PCM_ERR_UNAUTHORIZED/);
  }, 120_000); // three CLI launches on a shared 2-core machine

  it('counts purged messages in pcm_messages_purged_total, not as terminal acks', async () => {
    const before = await t.get('/metrics');
    const value = (body: string, name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(body)?.[1] ?? 0);
    const id = 'purge-metrics';
    for (let i = 0; i < 3; i++) expect((await t.send(id, { payload: i })).status).toBe(202);
    await purge(id);
    const after = await t.get('/metrics');
    expect(value(after.body, 'pcm_messages_purged_total') - value(before.body, 'pcm_messages_purged_total')).toBe(3);
    expect(value(after.body, 'pcm_messages_acked_total')).toBe(value(before.body, 'pcm_messages_acked_total'));
  });

  it('records the purge in the terminal timeline', async () => {
    const id = 'purge-timeline';
    expect((await t.send(id, { payload: 1 })).status).toBe(202);
    await purge(id);
    const res = await fetch(`${t.base}/v1/admin/terminals/${id}/events`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    const { events } = (await res.json()) as { events: { type: string; seq?: number; reason?: string }[] };
    expect(events[0]).toMatchObject({ type: 'acked', seq: 1, reason: 'purged 1 pending message(s) (admin)' });
  });
});
