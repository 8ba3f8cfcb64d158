/**
 * Fault suite: a terminal that stops reading (slow consumer, issue 8). Its socket is paused
 * while 400 messages are sent to it and 100 to a healthy neighbour. The neighbour gets all of
 * its messages while the stall lasts, the gateway stays healthy, nothing is acked for the
 * stalled terminal, and when it comes back (new connection, takeover) it handles all 400
 * exactly once and in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { WsTerminal, startGateway, waitUntil, type TestGateway } from '../../e2e/harness.js';

describe('fault: slow consumer', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({ mqtt: false, config: { deliveryWindow: 64 } });
  });
  afterAll(() => t.close());

  it('a stalled terminal delays nobody else and loses nothing', async () => {
    const slowId = 'slow-consumer-1';
    const ws = new WebSocket(`ws://127.0.0.1:${t.httpPort}/v1/connect`, { headers: { authorization: `Bearer ${await t.token(slowId)}` } });
    await new Promise<void>((resolve, reject) => {
      ws.once('message', () => resolve());
      ws.once('error', reject);
    });
    // Stop reading: the kernel buffers fill, then the gateway's writes back up.
    (ws as unknown as { _socket: import('node:net').Socket })._socket.pause();

    const neighbour = await WsTerminal.open(t, 'slow-neighbour');
    const started = Date.now();
    const big = 'x'.repeat(4000); // fills socket buffers sooner
    for (let i = 0; i < 400; i++) expect((await t.send(slowId, { payload: { i, big } })).status).toBe(202);
    for (let i = 0; i < 100; i++) expect((await t.send('slow-neighbour', { payload: { i } })).status).toBe(202);
    // The neighbour's application acks as it handles (the window is 64 unacked).
    let acked = 0;
    await waitUntil(
      () => {
        const ms = neighbour.messages();
        if (ms.length > acked) {
          neighbour.ack(ms[ms.length - 1].seq);
          acked = ms.length;
        }
        return ms.length >= 100;
      },
      30_000,
      '100 neighbour messages',
    );
    const got = neighbour.messages();
    const neighbourMs = Date.now() - started;
    expect(got.map((m) => m.payload.i)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect((await t.get('/healthz')).status).toBe(200);
    // Nothing was acked by the stalled terminal; everything is still pending in the store.
    const p = (await t.get(`/v1/terminals/${slowId}`)).body;
    expect(p).toMatchObject({ pending: 400, lastAckedSeq: 0 });
    console.log(`[fault slow-consumer] neighbour got 100 messages in ${neighbourMs} ms while 400 x 4 KB waited for a stalled socket`);

    // The stalled terminal comes back on a new connection (takeover) and handles everything.
    ws.terminate();
    const back = await WsTerminal.open(t, slowId);
    const seen: number[] = [];
    await waitUntil(
      () => {
        for (const m of back.messages().slice(seen.length)) {
          seen.push(m.payload.i);
          back.ack(m.seq);
        }
        return seen.length >= 400;
      },
      20_000,
      '400 messages after the stall',
    );
    expect(seen).toEqual(Array.from({ length: 400 }, (_, i) => i));
    await waitUntil(() => (back.messages().length === 400 ? true : undefined), 1000, 'no extra frames');
    await back.close();
    await neighbour.close();
  }, 60_000);
});
