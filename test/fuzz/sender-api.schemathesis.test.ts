/**
 * Fuzzing the sender API from its OpenAPI description with schemathesis (issue 8, hostile
 * input). A real gateway publishes /openapi.json; schemathesis (PyPI, provided by
 * `npm run services -- up schemathesis`) reads it, generates valid and invalid requests for
 * every sender operation (`--mode all`: coverage, fuzzing and stateful phases) and checks that
 * no response is a 5xx (504 on /requests is the contract, see schemathesis.toml), that every
 * status, content type and body is the documented one. Then the store is checked: exactly
 * the requests that were accepted (202 on /messages, 200 or 504 on /requests) appended a
 * message, so no rejected request stored anything.
 *
 * Bounds: PCM_SCHEMATHESIS_MAX_EXAMPLES (default 40 per operation and phase) and
 * PCM_SCHEMATHESIS_SEED (default: schemathesis picks one; the report prints it) reproduce or
 * widen a run. test/fuzz/sender-api.fuzz.test.ts is the fast-check counterpart that needs no
 * service and also fuzzes raw bodies and content types.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { needService, repoRoot } from '../services/env.js';
import { startGateway, type TestGateway } from '../e2e/harness.js';
import { MemoryMessageStore } from '../../gateway/adapters/memory/memory-store.js';
import type { AppendResult, NewMessage } from '../../gateway/ports/message-store.js';

const st = needService('schemathesis', ['PCM_TEST_SCHEMATHESIS']);
const MAX_EXAMPLES = Number(process.env.PCM_SCHEMATHESIS_MAX_EXAMPLES ?? 40);
const RUN_TIMEOUT_MS = 240_000;

/** Counts the appends that stored a new message (an idempotent retry stores nothing). */
class CountingStore extends MemoryMessageStore {
  stored = 0;
  override async append(msg: NewMessage, now: number): Promise<AppendResult> {
    const r = await super.append(msg, now);
    if (!r.duplicate) this.stored++;
    return r;
  }
}

interface HarEntry {
  request: { method: string; url: string };
  response: { status: number; content?: { text?: string } };
}

describe.skipIf(!st)('sender API fuzzed by schemathesis from /openapi.json', () => {
  let t: TestGateway;
  let store: CountingStore;
  let dir: string;
  let run: { code: number; output: string; ms: number } | undefined;

  beforeAll(async () => {
    store = new CountingStore();
    // Small payload limit so 413 is reachable; requests without timeoutMs give up fast (no
    // terminal is connected); a rate limit a run never reaches (429 would hide the rest).
    t = await startGateway({ store, mqtt: false, config: { maxPayloadBytes: 1024, requestTimeoutMs: 20, rateLimitPerMinute: 1_000_000 } });
    dir = await mkdtemp(path.join(tmpdir(), 'pcm-schemathesis-'));
  });
  afterAll(async () => {
    await t?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('finds no server error and no response outside the documented contract', async () => {
    const args = [
      '--config-file', path.join(repoRoot, 'test/fuzz/schemathesis.toml'),
      'run', `${t.base}/openapi.json`,
      '--header', `Authorization: Bearer ${t.apiKey}`,
      // The sender API (DESIGN.md section 5); health, admin and edge routes have their own tests.
      '--include-path-regex', '^/v1/terminals/',
      '--mode', 'all',
      '--checks', 'not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance',
      '--workers', '1',
      '--max-examples', String(MAX_EXAMPLES),
      '--request-timeout', '10',
      '--generation-database', 'none',
      '--report', 'har', '--report-har-path', path.join(dir, 'run.har'),
      '--no-color',
      ...(process.env.PCM_SCHEMATHESIS_SEED ? ['--seed', process.env.PCM_SCHEMATHESIS_SEED] : []),
    ];
    const started = Date.now();
    // Asynchronous on purpose: the gateway under test runs in this process's event loop.
    const code = await new Promise<{ code: number; output: string }>((resolve) => {
      execFile(
        st!.PCM_TEST_SCHEMATHESIS!,
        args,
        // cwd: schemathesis may leave files behind (.hypothesis); SCHEMATHESIS_HOOKS keeps valid
        // POST /requests waits short (see the file).
        { cwd: dir, timeout: RUN_TIMEOUT_MS, maxBuffer: 32 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1', SCHEMATHESIS_HOOKS: path.join(repoRoot, 'test/fuzz/schemathesis-hooks.py') } },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, output: `${stdout}${stderr}${err && typeof err.code !== 'number' ? `\n${err.message}` : ''}` }),
      );
    });
    run = { ...code, ms: Date.now() - started };
    console.log(`schemathesis: exit ${run.code} after ${(run.ms / 1000).toFixed(1)} s, ${/(\d+) generated/.exec(run.output)?.[1] ?? '?'} test cases (${/Seed: (\d+)/.exec(run.output)?.[0] ?? 'no seed'})`);
    expect(run.code, `schemathesis failed; its report:\n${run.output}`).toBe(0);
    expect(run.output).toMatch(/Operations:\s+4 selected/);
  }, RUN_TIMEOUT_MS + 10_000);

  it('rejected requests stored nothing: messages stored = accepted sends and requests', async () => {
    expect(run, 'the schemathesis run did not happen').toBeDefined();
    const har = JSON.parse(await readFile(path.join(dir, 'run.har'), 'utf8')) as { log: { entries: HarEntry[] } };
    const accepted = new Set<string>();
    let requests = 0;
    let rejected = 0;
    for (const { request, response } of har.log.entries) {
      const p = new URL(request.url).pathname;
      if (request.method === 'POST' && p.endsWith('/messages') && response.status === 202) {
        const body = JSON.parse(response.content?.text ?? '{}') as { terminalId: string; seq: number };
        accepted.add(`${body.terminalId}#${body.seq}`); // an idempotent retry repeats its seq
      } else if (request.method === 'POST' && p.endsWith('/requests') && (response.status === 200 || response.status === 504)) {
        requests++; // stored before waiting for the reply
      } else if (request.method === 'POST' && response.status >= 400 && response.status < 500) {
        rejected++;
      }
    }
    // The run exercised both sides, or the equality below proves nothing.
    expect(accepted.size, 'accepted sends').toBeGreaterThanOrEqual(10);
    expect(rejected, 'rejected sends and requests').toBeGreaterThanOrEqual(50);
    expect(store.stored, `${accepted.size} accepted sends + ${requests} accepted requests, ${rejected} rejected`).toBe(accepted.size + requests);
  });
});
