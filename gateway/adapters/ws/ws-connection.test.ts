import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { ServerFrame } from '../../../protocol/frames.js';
import { WsTerminalConnection } from './ws-connection.js';

/** A real WebSocket pair on 127.0.0.1; the server side wrapped as the engine sees it. */
async function pair(withTcp = true): Promise<{ conn: WsTerminalConnection; tcp: Socket; client: WebSocket; received: string[]; writes: () => { write: number; writev: number }; close: () => Promise<void> }> {
  const http: Server = createServer();
  const wss = new WebSocketServer({ server: http });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const serverSide = new Promise<[WebSocket, Socket]>((r) => wss.once('connection', (ws, req) => r([ws, req.socket])));
  const client = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`);
  const received: string[] = [];
  client.on('message', (d) => received.push(String(d)));
  await new Promise((r) => client.once('open', r));
  const [ws, tcp] = await serverSide;
  // count the socket's underlying write calls (one system call each; ws writes a frame's
  // header and payload as one writev)
  const count = { write: 0, writev: 0 };
  const t = tcp as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  const w = t._write.bind(tcp);
  const wv = t._writev.bind(tcp);
  t._write = (...a) => (count.write++, w(...a));
  t._writev = (...a) => (count.writev++, wv(...a));
  return {
    conn: new WsTerminalConnection(ws, 't-1', undefined, undefined, withTcp ? tcp : undefined),
    tcp,
    client,
    received,
    writes: () => ({ ...count }),
    close: async () => {
      client.terminate();
      wss.close();
      await new Promise((r) => http.close(r));
    },
  };
}

const msg = (seq: number): ServerFrame => ({ type: 'message', seq, epoch: 'e', messageId: `m-${seq}`, payload: { seq }, createdAt: 0 }) as unknown as ServerFrame;
const seqs = (received: string[]) => received.map((r) => (JSON.parse(r) as { seq: number }).seq);
const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
};

describe('WsTerminalConnection: frames of one event-loop turn share a write', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it('writes a lone frame at once, and the rest of a burst in one writev at the end of the turn', async () => {
    const p = await pair();
    close = p.close;
    p.conn.send(msg(1));
    // the first frame of a turn is not held back: it reached the socket before send returned
    expect(p.writes().write + p.writes().writev).toBe(1);
    for (let s = 2; s <= 50; s++) p.conn.send(msg(s));
    expect(p.writes().write + p.writes().writev).toBe(1); // corked until the turn ends
    // frames written from promise continuations (an ack's commit resolving) join the same turn
    await Promise.resolve();
    p.conn.send(msg(51));
    await new Promise((r) => setImmediate(r));
    const total = () => p.writes().write + p.writes().writev;
    expect(total()).toBe(2); // the lone first frame, then the 50 others together
    await until(() => p.received.length === 51);
    expect(seqs(p.received)).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));

    // the next turn starts afresh: its first frame is written at once again
    p.conn.send(msg(52));
    expect(total()).toBe(3);
    await until(() => p.received.length === 52);
  });

  it('counts corked frames as buffered (backpressure sees them) and flushes them before a close', async () => {
    const p = await pair();
    close = p.close;
    p.conn.send(msg(1));
    for (let s = 2; s <= 10; s++) p.conn.send(msg(s));
    expect(p.conn.bufferedBytes()).toBeGreaterThan(0);
    p.conn.send({ type: 'drain', reason: 'shutdown', reconnectAfterMs: 1000 } as unknown as ServerFrame);
    p.conn.close('shutdown');
    const closed = new Promise<number>((r) => p.client.once('close', (code) => r(code)));
    expect(await closed).toBe(1001);
    expect(seqs(p.received.slice(0, 10))).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect(JSON.parse(p.received[10]!)).toMatchObject({ type: 'drain' });
  });

  it('without the TCP socket every frame is its own write (nothing corked)', async () => {
    const p = await pair(false);
    close = p.close;
    for (let s = 1; s <= 5; s++) p.conn.send(msg(s));
    await new Promise((r) => setImmediate(r));
    expect(p.writes().write + p.writes().writev).toBeGreaterThanOrEqual(5);
    await until(() => p.received.length === 5);
  });
});
