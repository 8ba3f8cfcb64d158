/**
 * Issue 9 acceptance: each of send, deliver, ack, expire and reject moves its counter, read
 * from a real gateway's GET /metrics over HTTP while a real WebSocket terminal talks to it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, WsTerminal, type TestGateway } from './harness.js';
import { MemoryMessageStore } from '../../gateway/adapters/memory/memory-store.js';
import { MemorySessionDirectory } from '../../gateway/adapters/memory/memory-directory.js';
import { InProcessRelayHub } from '../../gateway/adapters/inprocess/inprocess-relay.js';
import type { MessageStore } from '../../gateway/ports/message-store.js';

let t: TestGateway;
beforeAll(async () => {
  t = await startGateway({ mqtt: false });
});
afterAll(async () => {
  await t?.close();
});

/** Prometheus text -> sample value by `name{labels}` (labels as printed). */
async function scrape(gw: TestGateway = t): Promise<Map<string, number>> {
  const res = await fetch(`${gw.base}/metrics`);
  expect(res.status).toBe(200);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}
const val = (m: Map<string, number>, k: string) => m.get(k) ?? 0;

describe('gateway metrics move with the traffic', () => {
  it('send -> accepted, deliver -> delivered + latency histogram, ack -> acked', async () => {
    const before = await scrape();
    const term = await WsTerminal.open(t, 'metrics-t1');
    const res = await t.send('metrics-t1', { payload: { n: 1 } });
    expect(res.status).toBe(202);
    const [frame] = await term.waitMessages(1);
    term.ws.send(JSON.stringify({ type: 'ack', seq: frame.seq }));
    let after = before;
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      after = await scrape();
      if (val(after, 'pcm_messages_acked_total') > val(before, 'pcm_messages_acked_total')) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(val(after, 'pcm_messages_accepted_total') - val(before, 'pcm_messages_accepted_total')).toBe(1);
    expect(val(after, 'pcm_messages_delivered_total{protocol="websocket"}') - val(before, 'pcm_messages_delivered_total{protocol="websocket"}')).toBe(1);
    expect(val(after, 'pcm_send_to_deliver_seconds_count{protocol="websocket"}') - val(before, 'pcm_send_to_deliver_seconds_count{protocol="websocket"}')).toBe(1);
    expect(val(after, 'pcm_messages_acked_total') - val(before, 'pcm_messages_acked_total')).toBe(1);
    expect(val(after, 'pcm_sessions{protocol="websocket"}')).toBeGreaterThanOrEqual(1);
    expect(val(after, 'pcm_sessions_opened_total{protocol="websocket"}') - val(before, 'pcm_sessions_opened_total{protocol="websocket"}')).toBe(1);
    term.ws.close();
  });

  it('ttlSeconds 0 to an offline terminal -> expired', async () => {
    const before = await scrape();
    const res = await t.send('metrics-offline', { payload: 'now or never', ttlSeconds: 0 });
    expect(res.status).toBe(202);
    expect(res.body.status).toBe('dropped');
    const after = await scrape();
    expect(val(after, 'pcm_messages_expired_total') - val(before, 'pcm_messages_expired_total')).toBe(1);
    expect(val(after, 'pcm_messages_accepted_total') - val(before, 'pcm_messages_accepted_total')).toBe(1);
  });

  it('a rejected send -> rejected{code}, and nothing accepted', async () => {
    const before = await scrape();
    expect((await t.send('metrics-t2', { payload: 1, ttlSeconds: -5 })).status).toBe(400);
    expect((await t.send('metrics-t2', { payload: 1 }, 'wrong-key-123')).status).toBe(401);
    const after = await scrape();
    expect(val(after, 'pcm_messages_rejected_total{code="PCM_ERR_INVALID_TTL"}') - val(before, 'pcm_messages_rejected_total{code="PCM_ERR_INVALID_TTL"}')).toBe(1);
    expect(val(after, 'pcm_messages_rejected_total{code="PCM_ERR_UNAUTHORIZED"}') - val(before, 'pcm_messages_rejected_total{code="PCM_ERR_UNAUTHORIZED"}')).toBe(1);
    expect(val(after, 'pcm_messages_accepted_total')).toBe(val(before, 'pcm_messages_accepted_total'));
  });
});

async function until(fn: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('metrics added by issue 9', () => {
  it('connects, disconnects by reason, send-to-ack, store latency, collapsed, sampled pending', async () => {
    const before = await scrape();
    const term = await WsTerminal.open(t, 'metrics-t3');
    await t.send('metrics-t3', { payload: 1 });
    const [f1] = await term.waitMessages(1);
    term.ws.send(JSON.stringify({ type: 'ack', seq: f1.seq }));
    await until(async () => val(await scrape(), 'pcm_send_to_ack_seconds_count') > val(before, 'pcm_send_to_ack_seconds_count'), 'send-to-ack');
    const term2 = await WsTerminal.open(t, 'metrics-t3'); // takeover of the first session
    await until(async () => val(await scrape(), 'pcm_disconnects_total{protocol="websocket",reason="taken over"}') > val(before, 'pcm_disconnects_total{protocol="websocket",reason="taken over"}'), 'takeover disconnect');
    term2.ws.close();
    await until(async () => val(await scrape(), 'pcm_disconnects_total{protocol="websocket",reason="connection closed"}') > val(before, 'pcm_disconnects_total{protocol="websocket",reason="connection closed"}'), 'peer disconnect');
    expect((await t.send('metrics-off', { payload: 1, collapseKey: 'k' })).status).toBe(202);
    expect((await t.send('metrics-off', { payload: 2, collapseKey: 'k' })).status).toBe(202);
    const after = await scrape();
    expect(val(after, 'pcm_connects_total{protocol="websocket"}') - val(before, 'pcm_connects_total{protocol="websocket"}')).toBe(2);
    expect(val(after, 'pcm_send_to_ack_seconds_count') - val(before, 'pcm_send_to_ack_seconds_count')).toBe(1);
    expect(val(after, 'pcm_messages_collapsed_total') - val(before, 'pcm_messages_collapsed_total')).toBe(1);
    expect(val(after, 'pcm_store_operation_seconds_count{op="append",store="memory"}') - val(before, 'pcm_store_operation_seconds_count{op="append",store="memory"}')).toBe(3);
    expect(val(after, 'pcm_store_operation_seconds_count{op="ack",store="memory"}')).toBeGreaterThanOrEqual(1);
    expect(after.has('pcm_pending_messages_sampled')).toBe(true);
  });

  it('store errors are counted by operation', async () => {
    const failing = new MemoryMessageStore();
    let broken = false;
    const store: MessageStore = new Proxy(failing, {
      get(target, prop, recv) {
        const v = Reflect.get(target, prop, recv);
        if (prop === 'append' && typeof v === 'function') return (...a: unknown[]) => (broken ? Promise.reject(new Error('disk on fire')) : v.apply(target, a));
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const g = await startGateway({ mqtt: false, store });
    try {
      broken = true;
      expect((await g.send('metrics-x', { payload: 1 })).status).toBe(503);
      const m = await scrape(g);
      expect(val(m, 'pcm_store_errors_total{op="append",store="memory"}')).toBe(1);
      expect(val(m, 'pcm_messages_rejected_total{code="PCM_ERR_STORE_UNAVAILABLE"}')).toBe(1);
    } finally {
      await g.close();
    }
  });

  it('relay events out on the sender gateway, in (with lag) on the owner', async () => {
    const hub = new InProcessRelayHub();
    const directory = new MemorySessionDirectory();
    const store = new MemoryMessageStore();
    const a = await startGateway({ mqtt: false, hub, directory, store, config: { gatewayId: 'gw-a' } });
    const b = await startGateway({ mqtt: false, hub, directory, store, config: { gatewayId: 'gw-b' } });
    try {
      const term = await WsTerminal.open(b, 'metrics-r1');
      expect((await a.send('metrics-r1', { payload: 'via relay' })).status).toBe(202);
      await term.waitMessages(1);
      const ma = await scrape(a);
      const mb = await scrape(b);
      expect(val(ma, 'pcm_relay_events_out_total{route="addressed",kind="deliver"}')).toBe(1);
      expect(val(ma, 'pcm_relay_events_out_total{route="broadcast",kind="deliver"}')).toBe(0);
      expect(val(mb, 'pcm_relay_events_in_total{kind="deliver"}')).toBe(1);
      expect(val(mb, 'pcm_relay_deliver_lag_seconds_count')).toBe(1);
      term.ws.close();
    } finally {
      await a.close();
      await b.close();
    }
  });
});
