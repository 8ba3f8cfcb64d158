/**
 * Fault suite: discovery down (issue 8). Terminals found their gateway through discovery;
 * then discovery stops. Connected terminals keep receiving; when the gateway restarts they
 * reconnect to their last assigned gateway without discovery (client/client.ts fallback); a
 * terminal that never discovered waits and connects once discovery is back. Checker: every
 * send answered 202 is handled exactly once, in order.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PcmClient } from '../../../client/client.js';
import { MemoryDuplicateStore } from '../../../client/duplicate-store.js';
import { silentLogger } from '../../../common/logger.js';
import { loadDiscoveryConfig } from '../../../discovery/config.js';
import { startDiscovery, type RunningDiscovery } from '../../../discovery/main.js';
import { MemorySessionDirectory } from '../../../gateway/adapters/memory/memory-directory.js';
import { SqliteMessageStore } from '../../../gateway/adapters/sqlite/sqlite-store.js';
import { mintTerminalToken } from '../../../protocol/token.js';
import { startGateway, type TestGateway } from '../../e2e/harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('fault: discovery down', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pcm-disc-down-'));
  let gw: TestGateway | undefined;
  let disc: RunningDiscovery | undefined;
  const clients: PcmClient[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.stop().catch(() => undefined)));
    await gw?.close();
    await disc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('connected terminals keep working and reconnect without discovery; new ones wait for it', async () => {
    const httpPort = await freePort();
    const discPort = await freePort();
    const openGateway = async (secret?: string, apiKey?: string) =>
      startGateway({
        mqtt: false,
        store: new SqliteMessageStore({ file: path.join(dir, 'm.db'), sweepIntervalMs: 0 }),
        directory: new MemorySessionDirectory(),
        config: { httpPort, ...(secret ? { terminalJwtSecret: secret } : {}), ...(apiKey ? { apiKeys: [apiKey] } : {}) },
      });
    gw = await openGateway();
    const secret = gw.secret;
    const apiKey = gw.apiKey;
    const openDiscovery = () =>
      startDiscovery(
        loadDiscoveryConfig({ env: { PCM_TERMINAL_JWT_SECRET: secret, PCM_DISCOVERY_PORT: String(discPort), PCM_DISCOVERY_HOST: '127.0.0.1', PCM_GATEWAYS: `gw-0|ws://127.0.0.1:${httpPort}/v1/connect|mqtt://127.0.0.1:1` } }),
        silentLogger,
      );
    disc = await openDiscovery();

    const handled = new Map<string, number[]>();
    const connected = new Map<string, number>();
    const makeClient = (id: string) => {
      handled.set(id, []);
      connected.set(id, 0);
      const c = new PcmClient({
        terminalId: id,
        token: () => mintTerminalToken(secret, id),
        protocol: 'websocket',
        discoveryUrl: `http://127.0.0.1:${discPort}`,
        overrides: { heartbeatMs: 2_000, backoff: { baseMs: 100, capMs: 800 }, connectTimeoutMs: 2_000 },
        duplicateStore: new MemoryDuplicateStore(),
        logger: silentLogger,
        handler: (m) => {
          handled.get(id)!.push((m.payload as { n: number }).n);
          return undefined;
        },
      });
      c.on('connected', () => connected.set(id, connected.get(id)! + 1));
      clients.push(c);
      return c;
    };
    const ids = Array.from({ length: 10 }, (_, i) => `disc-down-${i}`);
    await Promise.all(ids.map((id) => makeClient(id).start()));
    const until = async (f: () => boolean, ms: number, what: string) => {
      const deadline = Date.now() + ms;
      while (!f()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(50);
      }
    };
    await until(() => ids.every((id) => connected.get(id)! >= 1), 15_000, 'first connections');

    const accepted = new Map<string, number[]>();
    let n = 0;
    const sendAll = async (targets: string[]) => {
      for (const id of targets) {
        // A pooled keep-alive socket to the previous gateway fails once after a restart:
        // retry with an idempotency key, so a retry can never store the message twice.
        let r;
        for (let attempt = 0; ; attempt++) {
          try {
            r = await gw!.send(id, { payload: { n }, idempotencyKey: `k-${n}` }, apiKey);
            break;
          } catch (err) {
            if (attempt >= 3) throw err;
            await sleep(100);
          }
        }
        expect(r.status).toBe(202);
        accepted.set(id, [...(accepted.get(id) ?? []), n++]);
      }
    };

    // 1. Discovery goes down: connected terminals keep receiving.
    await disc.close();
    disc = undefined;
    await sendAll(ids);
    await until(() => ids.every((id) => handled.get(id)!.length >= 1), 10_000, 'delivery with discovery down');

    // 2. The gateway restarts while discovery is still down: terminals come back to it by
    //    their last assignment; a brand-new terminal cannot discover and waits.
    await gw.close();
    gw = await openGateway(secret, apiKey);
    const late = makeClient('disc-down-late');
    const lateStart = late.start().catch(() => undefined);
    await sendAll([...ids, 'disc-down-late']);
    await until(() => ids.every((id) => connected.get(id)! >= 2), 20_000, 'reconnection without discovery');
    await sendAll(ids);
    await sleep(1000);
    expect(connected.get('disc-down-late')).toBe(0);

    // 3. Discovery returns: the late terminal connects and gets what was sent meanwhile.
    disc = await openDiscovery();
    await lateStart;
    const all = [...ids, 'disc-down-late'];
    await until(() => all.every((id) => handled.get(id)!.length >= (accepted.get(id)?.length ?? 0)), 20_000, 'every accepted message handled');

    let lost = 0;
    let dup = 0;
    let outOfOrder = 0;
    for (const id of all) {
      const got = handled.get(id)!;
      const want = accepted.get(id) ?? [];
      if (new Set(got).size !== got.length) dup++;
      for (const x of want) if (!got.includes(x)) lost++;
      for (let i = 1; i < got.length; i++) if (got[i]! < got[i - 1]!) outOfOrder++;
    }
    console.log(`[fault discovery-down] terminals=${all.length} accepted=${n} lost=${lost} duplicates=${dup} outOfOrder=${outOfOrder}`);
    expect([lost, dup, outOfOrder]).toEqual([0, 0, 0]);
  }, 90_000);
});
