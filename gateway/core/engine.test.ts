import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ServerFrame } from '../../protocol/frames.js';
import { MemoryMessageStore } from '../adapters/memory/memory-store.js';
import { MemorySessionDirectory } from '../adapters/memory/memory-directory.js';
import { InProcessRelayHub } from '../adapters/inprocess/inprocess-relay.js';
import type { TerminalConnection } from '../ports/terminal-connection.js';
import { DeliveryEngine } from './engine.js';

/** A TerminalConnection double that records frames; the engine cannot tell it from ws or mqtt. */
class FakeConn implements TerminalConnection {
  readonly protocol = 'websocket' as const;
  readonly frames: ServerFrame[] = [];
  closedWith: string | undefined;
  buffered = 0;
  constructor(readonly terminalId: string) {}
  send(frame: ServerFrame, encoded?: string): void {
    this.frames.push(encoded ? JSON.parse(encoded) : JSON.parse(JSON.stringify(frame)));
  }
  bufferedBytes(): number {
    return this.buffered;
  }
  close(reason: string): void {
    this.closedWith = reason;
  }
  seqs(): number[] {
    return this.frames.filter((f) => f.type === 'message').map((f) => (f as { seq: number }).seq);
  }
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

function engine(opts: Partial<ConstructorParameters<typeof DeliveryEngine>[0]> = {}) {
  const store = new MemoryMessageStore();
  const e = new DeliveryEngine(
    { gatewayId: 'g', heartbeatSeconds: 30, maxSessions: 100, window: 4, resumeIntervalMs: 10, ...opts },
    { store, directory: new MemorySessionDirectory(), relay: new InProcessRelayHub().bus() },
  );
  return { e, store };
}

/**
 * Connects `next`; when the takeover damper refuses it (many takeovers in a row: a `drain`
 * frame, reason takeover-loop, and the session in place is kept), the terminal carries on with
 * its live connection, as a device whose new dial was refused does.
 */
async function connectOrKeep(e: DeliveryEngine, next: FakeConn, live: FakeConn | undefined, all: FakeConn[]): Promise<FakeConn> {
  all.push(next);
  await e.connect(next);
  const refused = next.frames.some((f) => f.type === 'drain' && f.reason === 'takeover-loop');
  return refused && live && live.closedWith === undefined ? live : next;
}

const send = (e: DeliveryEngine, t: string, n: number, ttlSeconds = 60) => e.submit({ terminalId: t, payload: JSON.stringify(n), ttlSeconds });

describe('DeliveryEngine (unit, memory store)', () => {
  it('pauses a connection over the buffer limit and resumes it when it drains', async () => {
    const { e } = engine({ maxBufferedBytes: 1000 });
    await e.start();
    const c = new FakeConn('bp');
    await e.connect(c);
    c.buffered = 5000;
    for (let i = 1; i <= 3; i++) await send(e, 'bp', i);
    await tick(30);
    expect(c.seqs()).toEqual([]);
    c.buffered = 0;
    await tick(50);
    expect(c.seqs()).toEqual([1, 2, 3]);
    await e.close();
  });

  it('an ack beyond what was written is refused and changes nothing', async () => {
    const { e, store } = engine();
    await e.start();
    for (let i = 1; i <= 6; i++) await send(e, 'ack', i);
    const c = new FakeConn('ack');
    await e.connect(c);
    await tick(10);
    expect(c.seqs()).toEqual([1, 2, 3, 4]); // window 4
    await e.handleFrame(c, { type: 'ack', seq: 5 });
    expect(c.frames.at(-1)).toMatchObject({ type: 'error', code: 'PCM_ERR_INVALID_ACK' });
    expect((await store.state('ack')).lastAckedSeq).toBe(0);
    await e.handleFrame(c, { type: 'ack', seq: 4 });
    await tick(10);
    expect(c.seqs()).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await store.state('ack')).lastAckedSeq).toBe(4);
    await e.close();
  });

  it('a takeover relay event with a higher epoch closes the local session', async () => {
    const hub = new InProcessRelayHub();
    const dir = new MemorySessionDirectory();
    const store = new MemoryMessageStore();
    const mk = (id: string) => new DeliveryEngine({ gatewayId: id, heartbeatSeconds: 30, maxSessions: 10 }, { store, directory: dir, relay: hub.bus() });
    const a = mk('a');
    const b = mk('b');
    await a.start();
    await b.start();
    const onA = new FakeConn('tk');
    await a.connect(onA);
    await b.connect(new FakeConn('tk'));
    await tick(20);
    expect(onA.closedWith).toBe('taken over');
    expect(onA.frames.at(-1)).toMatchObject({ type: 'error', code: 'PCM_ERR_SESSION_TAKEN_OVER' });
    expect(a.sessionCount()).toBe(0);
    await a.close();
    await b.close();
  });

  it('a connect with nothing pending does not read the store; a message appended while it connects is still delivered', async () => {
    const { e, store } = engine();
    await e.start();
    const reads: string[] = [];
    const pending = store.pending.bind(store);
    store.pending = (id, q) => {
      reads.push(id);
      return pending(id, q);
    };
    // Nothing stored: caught up without a read, and the next message goes out live.
    const idle = new FakeConn('idle');
    await e.connect(idle);
    expect(reads).toEqual([]);
    await send(e, 'idle', 1);
    expect(idle.seqs()).toEqual([1]);
    expect(reads).toEqual([]);
    // Something unacked: the connect reads and redelivers it.
    await e.connect(new FakeConn('idle'));
    await tick(10);
    expect(reads).toEqual(['idle']);
    // A message appended after the connect read the (empty) state and before the session is
    // ready: offered to the not-ready session, so the connect reads the store after all.
    const state = store.state.bind(store);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    store.state = async (id) => {
      const st = await state(id);
      await gate;
      return st;
    };
    const racing = new FakeConn('race');
    const connecting = e.connect(racing);
    await tick(5);
    await send(e, 'race', 1);
    release();
    await connecting;
    await tick(10);
    expect(racing.seqs()).toEqual([1]);
    await e.close();
  });

  it('a presence claim that failed at connect is retried at the next presence refresh (the terminal does not stay invisible)', async () => {
    class FlakyDirectory extends MemorySessionDirectory {
      failClaims = 2;
      claims = 0;
      override async claim(...args: Parameters<MemorySessionDirectory['claim']>) {
        this.claims++;
        if (this.failClaims-- > 0) throw new Error('directory unavailable');
        return super.claim(...args);
      }
    }
    const dir = new FlakyDirectory();
    const store = new MemoryMessageStore();
    const hub = new InProcessRelayHub();
    const g = new DeliveryEngine({ gatewayId: 'g', heartbeatSeconds: 0.05, maxSessions: 10 }, { store, directory: dir, relay: hub.bus() });
    const h = new DeliveryEngine({ gatewayId: 'h', heartbeatSeconds: 30, maxSessions: 10 }, { store, directory: dir, relay: hub.bus() });
    await g.start();
    await h.start();
    const c = new FakeConn('blip');
    await g.connect(c);
    // The session works without presence...
    expect(c.frames[0]!.type).toBe('welcome');
    expect(await dir.lookup('blip')).toBeUndefined();
    // ...and the refresh claims it once the directory answers again (one more failure first).
    for (let i = 0; i < 50 && !(await dir.lookup('blip')); i++) await tick(20);
    expect(await dir.lookup('blip')).toMatchObject({ gatewayId: 'g' });
    expect(dir.claims).toBe(3);
    // Another gateway now sees it online, and a send through it reaches the terminal.
    expect(await h.presence('blip')).toMatchObject({ online: true, gatewayId: 'g' });
    await send(h, 'blip', 7);
    await tick(20);
    expect(c.seqs()).toEqual([1]);
    await g.close();
    await h.close();
  });

  it('presence answers 503 PCM_ERR_STORE_UNAVAILABLE when the directory cannot be read, not "offline"', async () => {
    class DownDirectory extends MemorySessionDirectory {
      override async lookup(): Promise<never> {
        throw new Error('directory unavailable');
      }
    }
    const e = new DeliveryEngine({ gatewayId: 'g', heartbeatSeconds: 30, maxSessions: 10 }, { store: new MemoryMessageStore(), directory: new DownDirectory(), relay: new InProcessRelayHub().bus() });
    await e.start();
    await expect(e.presence('somewhere')).rejects.toMatchObject({ code: 'PCM_ERR_STORE_UNAVAILABLE' });
    // a terminal connected here is still answered from the local session
    const c = new FakeConn('here');
    await e.connect(c);
    expect(await e.presence('here')).toMatchObject({ online: true, gatewayId: 'g' });
    await e.close();
  });

  it('reads the directory for an offline terminal only when another gateway is reachable on the relay', async () => {
    class CountingDirectory extends MemorySessionDirectory {
      lookups = 0;
      override async lookup(terminalId: string) {
        this.lookups++;
        return super.lookup(terminalId);
      }
    }
    const hub = new InProcessRelayHub();
    const dir = new CountingDirectory();
    const store = new MemoryMessageStore();
    const buses = new Map<string, ReturnType<InProcessRelayHub['bus']>>();
    const mk = (id: string) => {
      buses.set(id, hub.bus());
      return new DeliveryEngine({ gatewayId: id, heartbeatSeconds: 30, maxSessions: 10 }, { store, directory: dir, relay: buses.get(id)! });
    };
    const a = mk('a');
    await a.start();
    // Alone on the hub (pcm dev): nothing could reach an owner elsewhere, so no read.
    await send(a, 'far', 1);
    await tick(10);
    expect(dir.lookups).toBe(0);
    // A second gateway holds the terminal: a send through `a` is looked up and relayed to it.
    const b = mk('b');
    await b.start();
    const onB = new FakeConn('far');
    await b.connect(onB);
    await tick(10);
    expect(onB.seqs()).toEqual([1]); // the stored message drains on connect
    await send(a, 'far', 2);
    await tick(20);
    expect(dir.lookups).toBe(1);
    expect(onB.seqs()).toEqual([1, 2]);
    await b.close();
    await buses.get('b')!.close(); // the app owns the bus: engine.close() leaves it open
    // Alone again once b left the hub.
    await send(a, 'far', 3);
    await tick(10);
    expect(dir.lookups).toBe(1);
    await a.close();
  });

  it('property: under any interleaving of sends, acks and reconnects, each connection sees ascending seqs and nothing stored is lost', async () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('send' as const), ttl0: fc.boolean() }),
      fc.record({ kind: fc.constant('ack' as const) }),
      fc.record({ kind: fc.constant('reconnect' as const) }),
      fc.record({ kind: fc.constant('disconnect' as const) }),
      fc.record({ kind: fc.constant('wait' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
        const { e } = engine({ window: 3 });
        await e.start();
        const t = 'prop';
        const durable = new Set<number>();
        const handled = new Map<number, number>(); // seq -> payload, the application's view (dedup by seq)
        let conn: FakeConn | undefined;
        const conns: FakeConn[] = [];
        const pendingSends: Promise<unknown>[] = [];
        let n = 0;
        for (const o of ops) {
          if (o.kind === 'send') {
            const i = ++n;
            // Not awaited: sends race with everything else, as they do over HTTP.
            pendingSends.push(send(e, t, i, o.ttl0 ? 0 : 60).then((r) => !o.ttl0 && durable.add(i) && r));
          } else if (o.kind === 'ack' && conn) {
            const seqs = conn.seqs();
            for (const f of conn.frames) if (f.type === 'message') handled.set(f.seq, f.payload as number);
            if (seqs.length > 0) await e.handleFrame(conn, { type: 'ack', seq: seqs[seqs.length - 1]! });
          } else if (o.kind === 'reconnect') {
            conn = await connectOrKeep(e, new FakeConn(t), conn, conns);
          } else if (o.kind === 'disconnect' && conn) {
            e.disconnected(conn);
            conn = undefined;
          } else {
            await tick(1);
          }
        }
        await Promise.all(pendingSends);
        // Finally: one connection that acks until nothing more arrives (or, when the takeover
        // damper refuses it, the live one it would have replaced).
        conn = await connectOrKeep(e, new FakeConn(t), conn, conns);
        for (let round = 0; round < 100; round++) {
          await tick(1);
          const seqs = conn.seqs();
          for (const f of conn.frames) if (f.type === 'message') handled.set(f.seq, f.payload as number);
          const last = seqs[seqs.length - 1];
          const before = seqs.length;
          if (last !== undefined) await e.handleFrame(conn, { type: 'ack', seq: last });
          await tick(1);
          if (conn.seqs().length === before && round > 2) break;
        }
        for (const c of conns) {
          const s = c.seqs();
          for (let i = 1; i < s.length; i++) expect(s[i]!).toBeGreaterThan(s[i - 1]!);
          // The only error a well-behaved terminal ever sees here is being taken over by its next connection.
          expect(c.frames.filter((f) => f.type === 'error' && f.code !== 'PCM_ERR_SESSION_TAKEN_OVER')).toEqual([]);
        }
        const handledPayloads = new Set(handled.values());
        for (const d of durable) expect(handledPayloads.has(d)).toBe(true);
        await e.close();
      }),
      { numRuns: 60 },
    );
  });
});
