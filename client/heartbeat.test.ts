import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import { PcmClient } from './client.js';
import { MemoryDuplicateStore } from './duplicate-store.js';

/**
 * DESIGN.md section 5: "a dead connection is closed after two missed beats". The server here
 * accepts, welcomes, then goes silent and does not answer pings (autoPong off), like a
 * half-open TCP link behind a NAT that dropped its mapping.
 */
describe('WebSocket heartbeat', () => {
  let wss: WebSocketServer;
  let url: string;
  let accepted = 0;
  beforeAll(async () => {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1', autoPong: false });
    wss.on('connection', (ws) => {
      accepted++;
      ws.send(JSON.stringify({ type: 'welcome', terminalId: 'hb-1', sessionId: `s-${accepted}`, heartbeatSeconds: 30 }));
    });
    await new Promise((r) => wss.once('listening', r));
    url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/v1/connect`;
  });
  afterAll(() => new Promise<void>((r) => wss.close(() => r())));

  it('declares a silent link dead after two missed heartbeats and reconnects', async () => {
    const c = new PcmClient({
      terminalId: 'hb-1',
      token: 'unused-by-this-server',
      url,
      overrides: { heartbeatMs: 150, backoff: { baseMs: 10, capMs: 10 } },
      duplicateStore: new MemoryDuplicateStore(),
    });
    const events: { at: number; what: string }[] = [];
    c.on('connected', () => events.push({ at: Date.now(), what: 'connected' }));
    c.on('disconnected', (d) => events.push({ at: Date.now(), what: `disconnected: ${d.reason}` }));
    await c.start();
    const end = Date.now() + 5000;
    while (events.filter((e) => e.what === 'connected').length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    await c.stop();
    const [first, drop] = events;
    expect(first!.what).toBe('connected');
    expect(drop!.what).toBe('disconnected: heartbeat timeout');
    // two beats of 150 ms, detected on the next tick: between 300 and ~600 ms
    expect(drop!.at - first!.at).toBeGreaterThanOrEqual(280);
    expect(drop!.at - first!.at).toBeLessThan(1000);
    expect(events.filter((e) => e.what === 'connected').length).toBe(2);
    expect(accepted).toBeGreaterThanOrEqual(2);
  });
});
