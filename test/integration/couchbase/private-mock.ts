import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import path from 'node:path';
import { sleep } from '../../../common/backoff.js';
import { isCI } from '../../services/env.js';

/**
 * A CouchbaseMock of our own, for tests that stop the server (the shared test-bed mock must
 * keep running for everyone else). Uses the jars the test bed already fetched
 * (`npm run services -- up couchbase`); same flags as test/services/couchbase.sh.
 */
const VERSION = process.env.PCM_COUCHBASE_MOCK_VERSION ?? '1.5.27';
const libs = path.join(process.env.PCM_CACHE_DIR ?? path.join(homedir(), '.cache/pcm'), `couchbase-mock-${VERSION}`, 'libs');

export function privateMockAvailable(): boolean {
  if (existsSync(libs)) return true;
  const reason = `CouchbaseMock jars not found in ${libs}; fetch them with: npm run services -- up couchbase`;
  if (isCI) throw new Error(`CI: ${reason}`);
  console.warn(`SKIP: ${reason}`);
  return false;
}

export interface PrivateMock {
  connectionString: string;
  restUrl: string;
  process: ChildProcess;
  /** SIGSTOP, resolved once every thread of the JVM is stopped (delivery is asynchronous). */
  freeze(): Promise<void>;
  /** SIGCONT. */
  thaw(): void;
  stop(): Promise<void>;
}

/** True when all threads of `pid` are in state T (stopped), read from /proc. */
function allThreadsStopped(pid: number): boolean {
  const tasks = readdirSync(`/proc/${pid}/task`);
  return tasks.every((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] === 'T';
  });
}

export async function startPrivateMock(bucket = 'pcm'): Promise<PrivateMock> {
  const port = await freePort();
  const child = spawn(
    'java',
    ['-Xms32m', '-Xmx128m', '-Djava.awt.headless=true', '-cp', `${libs}/*`, 'com.couchbase.mock.CouchbaseMock',
      '--host', '127.0.0.1', '--port', String(port), '--nodes', '1', '--replicas', '0', '--vbuckets', '16', '--cccp',
      '--buckets', `${bucket}::couchbase`],
    { stdio: 'ignore' },
  );
  const restUrl = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  };
  const freeze = async () => {
    child.kill('SIGSTOP');
    const until = Date.now() + 5_000;
    while (!allThreadsStopped(child.pid!)) {
      if (Date.now() > until) throw new Error('private CouchbaseMock did not stop within 5 s of SIGSTOP');
      await sleep(10);
    }
  };
  const thaw = () => {
    child.kill('SIGCONT');
  };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`private CouchbaseMock exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${restUrl}/pools/default/buckets/${bucket}`, {
        headers: { authorization: 'Basic ' + Buffer.from('Administrator:password').toString('base64') },
        signal: AbortSignal.timeout(2_000),
      });
      if (res.ok) {
        const kv = ((await res.json()) as { nodesExt?: Array<{ services?: { kv?: number } }> }).nodesExt?.[0]?.services?.kv;
        if (Number.isInteger(kv)) return { connectionString: `couchbase://127.0.0.1:${kv}`, restUrl, process: child, stop, freeze, thaw };
      }
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  await stop();
  throw new Error('private CouchbaseMock did not become ready within 60 s');
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
