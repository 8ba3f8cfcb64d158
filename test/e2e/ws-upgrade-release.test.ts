/**
 * Idle memory (issue 10): once a WebSocket is upgraded the gateway keeps nothing of the HTTP
 * upgrade (no ServerResponse on the socket, no closure over fastify's Request/Reply), and a
 * socket error still ends only that connection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { startGateway, WsTerminal, type TestGateway } from './harness.js';

describe('WebSocket upgrade leaves nothing of the HTTP request behind', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway();
  });
  afterAll(async () => {
    await t.close();
  });

  it('the upgraded socket holds no HTTP response and only the gateway\'s error listener', async () => {
    const a = await WsTerminal.open(t, 'rel-a');
    const b = await WsTerminal.open(t, 'rel-b');
    const server = [...(t.gw.app.websocketServer.clients as Set<WebSocket>)];
    expect(server).toHaveLength(2);
    for (const ws of server) {
      const raw = (ws as unknown as { _socket: { _httpMessage?: unknown } })._socket;
      expect(raw._httpMessage ?? null).toBeNull();
      expect(ws.listenerCount('error')).toBe(1);
    }
    // a transport error on one socket (frame beyond maxPayload) closes it; the other lives on
    a.sendRaw('x'.repeat(2 * 1024 * 1024));
    const closed = await a.waitClosed(5000);
    expect(closed.code).toBe(1009);
    await t.send('rel-b', { payload: { still: 'here' } });
    const [m] = await b.waitMessages(1);
    expect(m.payload).toEqual({ still: 'here' });
    await b.close();
  });
});
