import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MiniGateway } from '../../client/test-support/mini-gateway.js';
import { repoRoot } from '../services/env.js';
import { startGateway, type TestGateway } from './harness.js';

const SECRET = 'cli-test-secret-0123456789abcdef';

/** Runs `pcm terminal` as a real child process and collects its JSON lines. */
function runTerminal(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin/pcm.js'), 'terminal', ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: Record<string, unknown>[] = [];
  let stderr = '';
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        events.push(JSON.parse(line));
      } catch {
        events.push({ event: 'text', line });
      }
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, events, exited, stderr: () => stderr };
}

async function until(fn: () => boolean, timeoutMs: number, what: string) {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('pcm terminal (child process)', () => {
  let gw: MiniGateway;
  let dir: string;
  beforeAll(async () => {
    gw = await MiniGateway.start(SECRET);
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-cli-'));
  });
  afterAll(async () => {
    await gw.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(['websocket', 'mqtt'] as const)('over %s: prints, acks, answers a request, exits after --count', async (protocol) => {
    const id = `cli-${protocol}`;
    const url = protocol === 'mqtt' ? gw.mqttUrl : gw.wsUrl;
    const t = runTerminal([id, '--url', url, '--protocol', protocol, '--json', '--count', '2', '--data-dir', dir, '--reply', '{"approved":true}'], { PCM_TERMINAL_JWT_SECRET: SECRET });
    await until(() => gw.isConnected(id), 60_000, `terminal connected (stderr: ${t.stderr()})`);
    gw.push(id, { hello: 'world' });
    gw.push(id, { q: 1 }, 'req-1');
    expect(await t.exited).toBe(0);
    const messages = t.events.filter((e) => e.event === 'message');
    expect(messages.map((m) => [m.seq, m.payload])).toEqual([
      [1, { hello: 'world' }],
      [2, { q: 1 }],
    ]);
    expect(gw.cursor(id)).toBe(2);
    expect(gw.replies.filter((r) => r.terminalId === id)).toEqual([{ terminalId: id, correlationId: 'req-1', payload: { approved: true } }]);
  }, 90_000);

  it('without token or secret exits 1 with a clear message', async () => {
    const t = runTerminal(['t-1'], { PCM_TERMINAL_JWT_SECRET: '' });
    expect(await t.exited).toBe(1);
    expect(t.stderr()).toMatch(/PCM_ERR_CONFIG: invalid configuration: give --token/);
  }, 60_000);
});

describe('pcm terminal against the real gateway: the README walkthrough', () => {
  let t: TestGateway;
  let dir: string;
  beforeAll(async () => {
    t = await startGateway({ mqtt: true });
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-cli-real-'));
  });
  afterAll(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('connect; send; stop the terminal; send three; reconnect; they drain in order, once each', async () => {
    const id = 'walkthrough-1';
    const args = [id, '--url', `ws://127.0.0.1:${t.httpPort}/v1/connect`, '--json', '--data-dir', dir, '--token', await t.token(id)];
    const first = runTerminal(args);
    await until(() => first.events.some((e) => e.event === 'connected'), 60_000, `first terminal connected (stderr: ${first.stderr()})`);
    expect((await t.send(id, { payload: 'hello' })).status).toBe(202);
    await until(() => first.events.some((e) => e.event === 'message'), 10_000, 'first message printed');
    // Stop it the way a user does (Ctrl-C); it acks what it handled and leaves.
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    for (const p of ['one', 'two', 'three']) expect((await t.send(id, { payload: p })).status).toBe(202);

    const second = runTerminal([...args, '--count', '3']);
    expect(await second.exited).toBe(0);
    expect(second.events.filter((e) => e.event === 'message').map((e) => e.payload)).toEqual(['one', 'two', 'three']);
    expect(second.events.filter((e) => e.event === 'duplicate')).toEqual([]);
    const presence = (await t.get(`/v1/terminals/${id}`)).body as { pending: number; lastAckedSeq: number };
    expect(presence).toMatchObject({ pending: 0, lastAckedSeq: 4 });
  }, 120_000);
});
