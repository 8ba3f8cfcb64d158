import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needService } from '../services/env.js';
import { startGateway, sleep, type TestGateway } from './harness.js';

/**
 * A third-party MQTT peer (issue 2, Tests; DESIGN.md section 6): Debian's mosquitto_sub
 * speaks MQTT 3.1.1 to the gateway's aedes listener. `npm run services -- up mosquitto`.
 */
const svc = needService('mosquitto', ['PCM_TEST_MOSQUITTO_SUB']);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Async spawn: the gateway runs in this process, so spawnSync would block it. */
function run(bin: string, args: string[], timeoutMs = 15_000): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe.skipIf(!svc)('mosquitto_sub as a third-party terminal (e2e)', () => {
  let t: TestGateway;
  const sub = svc?.PCM_TEST_MOSQUITTO_SUB ?? 'mosquitto_sub';
  const args = (id: string, password: string, topic: string) => ['-h', '127.0.0.1', '-p', String(t.mqttPort), '-V', 'mqttv311', '-i', id, '-u', id, '-P', password, '-t', topic, '-q', '1', '-C', '1', '-W', '10'];

  beforeAll(async () => {
    t = await startGateway();
  });
  afterAll(async () => {
    await t.close();
  });

  it("receives its own message with the terminal's credentials", async () => {
    const p = run(sub, args('mosq-1', await t.token('mosq-1'), 'pcm/t/mosq-1/messages'));
    // The session exists once the subscription does (presence flips online).
    for (let i = 0; i < 100 && !(await t.get('/v1/terminals/mosq-1')).body.online; i++) await sleep(50);
    const sent = await t.send('mosq-1', { payload: { from: 'pcm', n: 1 } });
    const r = await p;
    expect(r.code).toBe(0);
    const frame = JSON.parse(r.stdout.trim());
    expect(frame).toMatchObject({ type: 'message', seq: sent.body.seq, messageId: sent.body.messageId, payload: { from: 'pcm', n: 1 } });
  });

  it("is refused another terminal's topic (SUBACK 0x80) and receives nothing of it", async () => {
    const p = run(sub, [...args('mosq-2', await t.token('mosq-2'), 'pcm/t/mosq-3/messages'), '-d']);
    await t.send('mosq-3', { payload: 'not for mosq-2' });
    const r = await p;
    expect(r.stdout).toMatch(/Subscribed \(mid: \d+\): 128/);
    expect(r.stderr).toMatch(/All subscription requests were denied/);
    expect(r.stdout).not.toContain('not for mosq-2');
  });

  it('is refused with a wrong password (CONNACK 4)', async () => {
    const r = await run(sub, args('mosq-4', 'not-a-token', 'pcm/t/mosq-4/messages'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Connection Refused: bad user name or password/);
    expect((await t.get('/v1/terminals/mosq-4')).body.online).toBe(false);
  });
});
