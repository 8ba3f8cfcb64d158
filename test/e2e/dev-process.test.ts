import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mintTerminalToken } from '../../protocol/token.js';
import { repoRoot } from '../services/env.js';
import { WsTerminal, sleep, type TestGateway } from './harness.js';

/**
 * `pcm dev` as a real child process (issue 2, Tests): generated secrets are persisted and
 * reused, the CLI talks to it, and `kill -9` between send and delivery loses nothing (SQLite).
 */
interface Dev {
  child: ChildProcess;
  httpUrl: string;
  httpPort: number;
  mqttUrl: string;
  discoveryUrl: string;
  apiKey: string;
  stdout: string;
}

const pcm = path.join(repoRoot, 'bin/pcm.js');
const children: ChildProcess[] = [];

function startDev(dataDir: string): Promise<Dev> {
  const child = spawn(process.execPath, [pcm, 'dev', '--data-dir', dataDir, '--http-port', '0', '--mqtt-port', '0', '--discovery-port', '0', '--log-level', 'warn'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pcm dev did not start in 60 s; stderr: ${stderr}`)), 60_000);
    child.on('exit', (code) => reject(new Error(`pcm dev exited with ${code}: ${stderr}`)));
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!stdout.includes('Ctrl-C stops')) return;
      clearTimeout(timer);
      const http = /gateway\s+(http:\/\/127\.0\.0\.1:(\d+))/.exec(stdout)!;
      resolve({
        child,
        httpUrl: http[1]!,
        httpPort: Number(http[2]),
        mqttUrl: /mqtt\s+(mqtt:\/\/\S+)/.exec(stdout)![1]!,
        discoveryUrl: /discovery\s+(http:\/\/\S+?)\/v1/.exec(stdout)![1]!,
        apiKey: /API key[^\n]*\n\s+(\S+)/.exec(stdout)![1]!,
        stdout,
      });
    });
  });
}

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [pcm, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function send(dev: Dev, id: string, payload: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${dev.httpUrl}/v1/terminals/${id}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${dev.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ payload }),
  });
  return { status: res.status, body: await res.json() };
}

describe('pcm dev process (e2e)', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'pcm-dev-'));
  afterAll(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('kill -9 between send and delivery loses nothing; secrets are reused after the restart', { timeout: 180_000 }, async () => {
    const a = await startDev(dataDir);
    const secrets = JSON.parse(readFileSync(path.join(dataDir, 'dev-secrets.json'), 'utf8'));
    expect(a.apiKey).toBe(secrets.apiKey);
    expect(a.stdout).toContain('node bin/pcm.js terminal terminal-1 --token ');
    const gw = (d: Dev) => ({ httpPort: d.httpPort, token: (id: string) => mintTerminalToken(secrets.terminalJwtSecret, id) }) as unknown as TestGateway;

    // A connected terminal that received 3 and acked only the first.
    const live = await WsTerminal.open(gw(a), 'kill-live');
    for (let i = 1; i <= 3; i++) expect((await send(a, 'kill-live', { i })).status).toBe(202);
    await live.waitMessages(3, 10_000);
    live.ack(1);
    // An offline terminal with 5 accepted messages.
    for (let i = 1; i <= 5; i++) expect((await send(a, 'kill-offline', { i })).status).toBe(202);
    await sleep(200); // let the ack land
    a.child.kill('SIGKILL');
    await new Promise((r) => a.child.once('exit', r));
    await live.waitClosed(5000);

    const b = await startDev(dataDir);
    expect(b.apiKey).toBe(a.apiKey); // persisted, not regenerated
    const off = await WsTerminal.open(gw(b), 'kill-offline');
    const got = await off.waitMessages(5, 10_000);
    expect(got.map((m) => m.payload.i)).toEqual([1, 2, 3, 4, 5]);
    const again = await WsTerminal.open(gw(b), 'kill-live');
    const redelivered = await again.waitMessages(2, 10_000);
    expect(redelivered.map((m) => [m.seq, m.payload.i])).toEqual([
      [2, 2],
      [3, 3],
    ]);
    // The CLI against the same process: pcm send reads the key from the data dir.
    const cli = await runCli(['send', 'kill-offline', '{"via":"cli"}', '--url', b.httpUrl, '--data-dir', dataDir, '--ttl', '60']);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ terminalId: 'kill-offline', seq: 6, status: 'queued' });
    const [, , , , , sixth] = await off.waitMessages(6, 10_000);
    expect(sixth.payload).toEqual({ via: 'cli' });
    // pcm request: the raw test terminal does not answer, so the CLI reports the 504 clearly.
    const req = await runCli(['request', 'kill-offline', '"ping"', '--timeout', '300', '--url', b.httpUrl, '--data-dir', dataDir]);
    expect(req.code).toBe(1);
    expect(req.stderr).toMatch(/PCM_ERR_REQUEST_TIMEOUT \(HTTP 504\)/);
    await off.close();
    await again.close();
    b.child.kill('SIGTERM');
    const code = await new Promise((r) => b.child.once('exit', (c) => r(c)));
    expect(code).toBe(0);
  });

  it('a bad configuration value exits non-zero naming the field', { timeout: 60_000 }, async () => {
    const r = await runCli(['gateway', '--http-port', 'eighty', '--terminal-jwt-secret', 'x'.repeat(20), '--api-keys', 'abcdefghij']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/PCM_ERR_CONFIG.*httpPort \(PCM_HTTP_PORT \/ --http-port\)/);
  });

  it('pcm token mints a token the gateway secret verifies; pcm send without a key fails clearly', { timeout: 60_000 }, async () => {
    const { verifyTerminalToken } = await import('../../protocol/token.js');
    const t = await runCli(['token', 'tok-cli', '--secret', 's'.repeat(32), '--ttl', '60']);
    expect(t.code).toBe(0);
    const claims = await verifyTerminalToken('s'.repeat(32), t.stdout.trim());
    expect(claims.terminalId).toBe('tok-cli');
    expect(claims.expiresAt - Date.now() / 1000).toBeLessThanOrEqual(61);
    const s = await runCli(['send', 't', '1', '--data-dir', path.join(dataDir, 'nothing-here')]);
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/PCM_ERR_CONFIG.*no API key/);
  });
});
