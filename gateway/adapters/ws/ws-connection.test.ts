import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { ServerFrame } from '../../../protocol/frames.js';
import { WsTerminalConnection, textFrame } from './ws-connection.js';

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

describe('WsTerminalConnection: frames written straight to the socket (RAW_FRAME)', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it('builds the RFC 6455 header for every length class, the payload UTF-8 encoded', () => {
    const cases: [string, number[]][] = [
      ['', [0x81, 0]],
      ['a'.repeat(125), [0x81, 125]],
      ['a'.repeat(126), [0x81, 126, 0, 126]],
      ['a'.repeat(65_535), [0x81, 126, 0xff, 0xff]],
      ['a'.repeat(65_536), [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]],
    ];
    for (const [text, head] of cases) {
      const f = textFrame(text);
      expect([...f.subarray(0, head.length)]).toEqual(head);
      expect(f.length).toBe(head.length + text.length);
      expect(f.subarray(head.length).toString('utf8')).toBe(text);
    }
    // the length counts bytes, not characters
    const f = textFrame('€'.repeat(50)); // 150 bytes: the 16-bit length form
    expect([...f.subarray(0, 4)]).toEqual([0x81, 126, 0, 150]);
    expect(f.subarray(4).toString('utf8')).toBe('€'.repeat(50));
  });

  it('a real ws client reads every length class and multibyte text, in order with ws\'s own pings', async () => {
    const p = await pair();
    close = p.close;
    const pings: number[] = [];
    p.client.on('ping', () => pings.push(p.received.length));
    const texts = ['', 'x'.repeat(125), 'y'.repeat(126), 'z'.repeat(70_000), 'Grüße, 支付终端 €'];
    p.conn.send(msg(1), texts[0]);
    p.conn.send(msg(2), texts[1]);
    p.conn.ping(); // through ws's sender, between two of ours
    for (let i = 2; i < texts.length; i++) p.conn.send(msg(i + 1), texts[i]);
    await until(() => p.received.length === texts.length);
    expect(p.received).toEqual(texts);
    expect(pings).toEqual([2]); // the ping arrived after the first two frames, before the rest
    expect(p.client.readyState).toBe(p.client.OPEN); // no protocol error closed it
  });

  it('bufferedBytes counts frames the socket has not written yet (backpressure still sees them)', async () => {
    const p = await pair();
    close = p.close;
    p.client.pause(); // the client stops reading: the server's socket buffers fill up
    const big = 'b'.repeat(64 * 1024);
    for (let i = 0; i < 200 && p.conn.bufferedBytes() === 0; i++) p.conn.send(msg(i + 1), big);
    for (let i = 0; i < 100; i++) p.conn.send(msg(1000 + i), big);
    expect(p.conn.bufferedBytes()).toBeGreaterThan(64 * 1024);
    expect(p.conn.bufferedBytes()).toBe(p.tcp.writableLength);
  });
});
