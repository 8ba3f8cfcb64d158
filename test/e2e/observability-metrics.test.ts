/**
 * Issue 9 acceptance: each of send, deliver, ack, expire and reject moves its counter, read
 * from a real gateway's GET /metrics over HTTP while a real WebSocket terminal talks to it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, WsTerminal, type TestGateway } from './harness.js';

let t: TestGateway;
beforeAll(async () => {
  t = await startGateway({ mqtt: false });
});
afterAll(async () => {
  await t?.close();
});

/** Prometheus text -> sample value by `name{labels}` (labels as printed). */
async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`${t.base}/metrics`);
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
