/**
 * Slow clients (issue 8: slowloris closed by timeouts). A client trickling its headers, or
 * its body, one byte at a time is cut off by the HTTP server's headers/request timeouts
 * (PCM_HTTP_HEADERS_TIMEOUT_MS / PCM_HTTP_REQUEST_TIMEOUT_MS, short here), and the gateway
 * keeps serving everyone else meanwhile. Nothing trickled is ever stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WsTerminal, startGateway, type TestGateway } from '../e2e/harness.js';
import { rawConnect, type RawConn } from '../fuzz/raw-sockets.js';

const HEADERS_MS = 600;
const REQUEST_MS = 1200;

async function trickle(c: RawConn, text: string, everyMs: number, until: () => boolean): Promise<number> {
  let sent = 0;
  for (const ch of text) {
    if (until() || c.sock.destroyed) break;
    c.write(ch);
    sent++;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return sent;
}

describe('slowloris', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({ mqtt: false, config: { httpHeadersTimeoutMs: HEADERS_MS, httpRequestTimeoutMs: REQUEST_MS } });
  });
  afterAll(() => t.close());

  it('headers trickled one byte every 100 ms -> 408 and close within the headers timeout (+ check interval); others are served meanwhile', async () => {
    const c = await rawConnect(t.httpPort);
    let closed = false;
    void c.closed(10_000).then(() => (closed = true), () => undefined);
    const header = `POST /v1/terminals/slow-1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.apiKey}\r\nX-Padding: ${'a'.repeat(200)}\r\n`;
    const started = Date.now();
    const during = t.get('/healthz');
    const sent = await trickle(c, header, 100, () => closed);
    const { afterMs } = await c.closed(5000);
    expect(sent).toBeLessThan(header.length); // cut off before it finished
    expect(afterMs).toBeLessThan(HEADERS_MS + 1000 + 500);
    expect(Date.now() - started).toBeGreaterThanOrEqual(HEADERS_MS - 50);
    expect(c.received().toString('latin1')).toMatch(/^HTTP\/1\.1 408/);
    expect((await during).status).toBe(200);
    expect((await t.get('/v1/terminals/slow-1')).body.pending).toBe(0);
  });

  it('complete headers, body trickled -> closed within the request timeout; nothing stored', async () => {
    const c = await rawConnect(t.httpPort);
    let closed = false;
    void c.closed(10_000).then(() => (closed = true), () => undefined);
    const body = JSON.stringify({ payload: 'x'.repeat(100) });
    c.write(`POST /v1/terminals/slow-2/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.apiKey}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    const sent = await trickle(c, body, 100, () => closed);
    const { afterMs } = await c.closed(5000);
    expect(sent).toBeLessThan(body.length);
    expect(afterMs).toBeLessThan(REQUEST_MS + 1000 + 500);
    expect((await t.get('/v1/terminals/slow-2')).body.pending).toBe(0);
  });

  it('a WebSocket upgrade trickled is cut off the same way (no session)', async () => {
    const c = await rawConnect(t.httpPort);
    let closed = false;
    void c.closed(10_000).then(() => (closed = true), () => undefined);
    const req = `GET /v1/connect HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer ${await t.token('slow-3')}\r\n\r\n`;
    await trickle(c, req, 50, () => closed);
    const { afterMs } = await c.closed(5000);
    expect(afterMs).toBeLessThan(HEADERS_MS + 1000 + 500);
    expect(c.received().toString('latin1')).not.toMatch(/^HTTP\/1\.1 101/);
    expect((await t.get('/v1/terminals/slow-3')).body.online).toBe(false);
  });

  it('an idle open connection that never sends a byte is closed too', async () => {
    const c = await rawConnect(t.httpPort);
    const { afterMs } = await c.closed(5000);
    expect(afterMs).toBeLessThan(HEADERS_MS + 1000 + 500);
  });

  it('an established WebSocket idle for longer than both timeouts is not cut off, and a keep-alive client is served', async () => {
    const w = await WsTerminal.open(t, 'slow-ws-ok');
    await new Promise((r) => setTimeout(r, REQUEST_MS + 1500));
    expect(w.closed).toBeUndefined();
    expect((await t.send('slow-ws-ok', { payload: 'still here' })).status).toBe(202);
    expect((await w.waitMessages(1))[0].payload).toBe('still here');
    await w.close();
  });
});
