import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InProcessRelayHub } from '../../gateway/adapters/inprocess/inprocess-relay.js';
import { MemoryMessageStore } from '../../gateway/adapters/memory/memory-store.js';
import { MemorySessionDirectory } from '../../gateway/adapters/memory/memory-directory.js';
import { sleep, startGateway, WsTerminal, type TestGateway } from './harness.js';

/**
 * Routing between gateways (DESIGN.md section 3) with real sockets: three gateways share one
 * store and one session directory and talk over an in-process relay hub. A send entering any
 * gateway reaches the owner only (addressed, not broadcast); replies and takeovers cross too.
 */
describe('three gateways, one store (e2e)', () => {
  const hub = new InProcessRelayHub();
  const store = new MemoryMessageStore();
  const directory = new MemorySessionDirectory();
  let a: TestGateway, b: TestGateway, c: TestGateway;
  const shared = { store: nonClosing(store), directory: nonClosingDir(directory), hub, mqtt: false };

  beforeAll(async () => {
    a = await startGateway({ ...shared, config: { gatewayId: 'gw-a' } });
    b = await startGateway({ ...shared, config: { gatewayId: 'gw-b', terminalJwtSecret: a.secret, apiKeys: [a.apiKey] } });
    c = await startGateway({ ...shared, config: { gatewayId: 'gw-c', terminalJwtSecret: a.secret, apiKeys: [a.apiKey] } });
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it('a send entering gateway A reaches the terminal on gateway B, addressed to B only', async () => {
    const term = await WsTerminal.open(b, 'x-1');
    const consumedC = hub.consumed('gw-c');
    const res = await a.send('x-1', { payload: 'via a' });
    expect(res.status).toBe(202);
    const [m] = await term.waitMessages(1);
    expect(m).toMatchObject({ seq: 1, payload: 'via a' });
    expect(hub.consumed('gw-c')).toBe(consumedC); // the bystander saw nothing
    expect((await a.get('/v1/terminals/x-1')).body).toMatchObject({ online: true, gatewayId: 'gw-b', protocol: 'websocket' });
    await term.close();
  });

  it('an offline terminal costs no relay traffic at all', async () => {
    const before = hub.consumed('gw-a') + hub.consumed('gw-b') + hub.consumed('gw-c');
    for (let i = 0; i < 5; i++) await a.send('x-offline', { payload: i });
    await sleep(50);
    expect(hub.consumed('gw-a') + hub.consumed('gw-b') + hub.consumed('gw-c')).toBe(before);
  });

  it('request through A, terminal on B: the reply travels back to A', async () => {
    const term = await WsTerminal.open(b, 'x-2');
    const pending = a.post('/v1/terminals/x-2/requests', { payload: 'status?', timeoutMs: 5000 });
    const [m] = await term.waitMessages(1);
    term.sendRaw(JSON.stringify({ type: 'reply', correlationId: m.correlationId, payload: { from: 'x-2' } }));
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.body.reply).toEqual({ from: 'x-2' });
    await term.close();
  });

  it('takeover across gateways: connecting to C closes the session on B', async () => {
    const first = await WsTerminal.open(b, 'x-3');
    const second = await WsTerminal.open(c, 'x-3');
    const closed = await first.waitClosed();
    expect(closed.code).toBe(4409);
    expect(first.frames.find((f) => f.type === 'error')?.code).toBe('PCM_ERR_SESSION_TAKEN_OVER');
    await a.send('x-3', { payload: 'to c' });
    const [m] = await second.waitMessages(1);
    expect(m.payload).toBe('to c');
    expect(b.gw.engine.sessionCount()).toBe(0);
    await second.close();
  });
});

/** The three gateways share one store and directory: only the test closes them. */
/**
 * A terminal stuck on a message it never acks (its window is full) is connected to B; an
 * operator purges it through A's admin API. B's resync check sees the store's cursor move and
 * releases the session, so the next message reaches the terminal without a reconnect.
 */
describe('admin purge through another gateway (e2e)', () => {
  const ADMIN_KEY = 'mg-purge-admin-key-0123456789';
  const hub = new InProcessRelayHub();
  const store = new MemoryMessageStore();
  const directory = new MemorySessionDirectory();
  const shared = { store: nonClosing(store), directory: nonClosingDir(directory), hub, mqtt: false };
  let a: TestGateway, b: TestGateway;

  beforeAll(async () => {
    const config = { adminKeys: [ADMIN_KEY], deliveryWindow: 2, resyncSeconds: 0.2 };
    a = await startGateway({ ...shared, config: { ...config, gatewayId: 'gw-pa' } });
    b = await startGateway({ ...shared, config: { ...config, gatewayId: 'gw-pb', terminalJwtSecret: a.secret, apiKeys: [a.apiKey] } });
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  it('the stuck session on B gets newer messages within a resync period, without reconnecting', async () => {
    const term = await WsTerminal.open(b, 'p-1'); // never acks
    for (const n of [1, 2, 3]) expect((await a.send('p-1', { payload: { n } })).status).toBe(202);
    await term.waitMessages(2);
    await sleep(600); // several resync periods: the full window stays full
    expect(term.messages().map((m) => m.seq)).toEqual([1, 2]);
    const purged = await fetch(`${a.base}/v1/admin/terminals/p-1/messages`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(purged.status).toBe(200);
    expect(await purged.json()).toMatchObject({ purged: 3, lastAckedSeq: 3 });
    expect((await a.send('p-1', { payload: { n: 4 } })).status).toBe(202);
    await term.waitMessages(3, 3000);
    expect(term.messages().map((m) => m.seq)).toEqual([1, 2, 4]); // 3 was purged, 4 came after
    expect(term.closed).toBeUndefined();
    await term.close();
  });
});

function nonClosing(s: MemoryMessageStore): MemoryMessageStore {
  return new Proxy(s, { get: (t, p) => (p === 'close' ? async () => undefined : Reflect.get(t, p, t)) });
}
function nonClosingDir(d: MemorySessionDirectory): MemorySessionDirectory {
  return new Proxy(d, { get: (t, p) => (p === 'close' ? async () => undefined : Reflect.get(t, p, t)) });
}
