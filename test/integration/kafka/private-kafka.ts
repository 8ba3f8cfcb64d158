import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { repoRoot } from '../../services/env.js';

const run = promisify(execFile);

/**
 * A Kafka broker of our own for outage tests: started by the test bed's script
 * (test/services/kafka.sh) with a private PCM_SERVICES_DIR, so stopping it disturbs no other
 * test. `down`/`up` of the script would wipe the data and pick a new port; an outage test
 * needs the same broker back, so stop() ends the JVM (SIGTERM to its process group, a
 * controlled shutdown) and start() relaunches the exact same command line: same port,
 * same log dirs, same topics and committed offsets.
 */
export class PrivateKafka {
  private cmd: string[] = [];
  private env: Record<string, string> = {};
  private cwd = repoRoot;

  private constructor(
    readonly dir: string,
    readonly brokers: string,
  ) {}

  static async up(timeoutMs = 240_000): Promise<PrivateKafka> {
    const dir = mkdtempSync(path.join(tmpdir(), 'pcm-relay-kafka-'));
    // Up to 3 attempts: kafka.sh draws a random cluster id, and one that starts with "-"
    // (1 in 64) is taken for an option by StorageTool's argument parser (reported to the test bed).
    for (let attempt = 1; ; attempt++) {
      try {
        await run('bash', [path.join(repoRoot, 'test/services/pcm-services'), 'up', 'kafka'], {
          env: { ...process.env, PCM_SERVICES_DIR: dir },
          timeout: timeoutMs,
        });
        break;
      } catch (err) {
        if (attempt >= 3) {
          rmSync(dir, { recursive: true, force: true });
          throw err;
        }
      }
    }
    const envText = readFileSync(path.join(dir, 'kafka.env'), 'utf8');
    const brokers = /^PCM_TEST_KAFKA_BROKERS=(.*)$/m.exec(envText)?.[1];
    if (!brokers) throw new Error(`private Kafka: no PCM_TEST_KAFKA_BROKERS in ${dir}/kafka.env`);
    return new PrivateKafka(dir, brokers);
  }

  private pidFile(): string {
    return path.join(this.dir, 'pids', 'kafka.pid');
  }

  pid(): number {
    return Number(readFileSync(this.pidFile(), 'utf8').trim());
  }

  /**
   * Stops the JVM; resolves once it has exited. SIGTERM (default) is a controlled shutdown;
   * SIGKILL is a crash (no controlled shutdown, the log is recovered at the next start).
   */
  async stop(timeoutMs = 30_000, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const pid = this.pid();
    this.cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    this.env = Object.fromEntries(
      readFileSync(`/proc/${pid}/environ`, 'utf8')
        .split('\0')
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    try {
      process.kill(-pid, signal);
    } catch {
      process.kill(pid, signal);
    }
    const deadline = Date.now() + timeoutMs;
    while (alive(pid)) {
      if (Date.now() > deadline) {
        process.kill(-pid, 'SIGKILL');
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Relaunches the command line stop() saw, then waits until the broker answers metadata. */
  async start(timeoutMs = 120_000): Promise<void> {
    if (this.cmd.length === 0) throw new Error('private Kafka: start() before stop()');
    const log = openSync(path.join(this.dir, 'logs', 'kafka.log'), 'a');
    const child = spawn(this.cmd[0]!, this.cmd.slice(1), { cwd: this.cwd, env: this.env, detached: true, stdio: ['ignore', log, log] });
    closeSync(log);
    child.unref();
    writeFileSync(this.pidFile(), `${child.pid}\n`);
    await waitForBroker(this.brokers, timeoutMs);
  }

  /** The script's own `down` (stops by pid, removes data), then the directory. */
  async destroy(): Promise<void> {
    await run('bash', [path.join(repoRoot, 'test/services/pcm-services'), 'down', 'kafka'], {
      env: { ...process.env, PCM_SERVICES_DIR: this.dir },
      timeout: 60_000,
    }).catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitForBroker(brokers: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const admin = new Kafka({ clientId: 'pcm-test-probe', brokers: brokers.split(','), logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 1_000 }).admin();
    try {
      await admin.connect();
      const c = await admin.describeCluster();
      await admin.listTopics();
      if (c.brokers.length >= 1) return;
    } catch {
      // not up yet
    } finally {
      await admin.disconnect().catch(() => {});
    }
    if (Date.now() > deadline) throw new Error(`Kafka at ${brokers} not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
