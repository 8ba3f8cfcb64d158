/**
 * Issue 9 acceptance: Mission Control driven in headless Chromium (Debian's `chromium`,
 * playwright-core with executablePath). A real gateway, a real SDK terminal over WebSocket:
 * sign in with the admin key, find the terminal, ping it (round trip shown), send a message
 * and see it acked in the timeline. Screenshot in test-artifacts/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { PcmClient, MemoryDuplicateStore } from '../../client/index.js';
import { needService, repoRoot } from '../services/env.js';
import { startGateway, type TestGateway } from './harness.js';

const svc = needService('chromium', ['PCM_TEST_CHROMIUM']);
const ADMIN_KEY = 'mc-admin-key-0123456789';
const TERMINAL = 'mc-terminal-7';
const artifacts = path.join(repoRoot, 'test-artifacts');

describe.skipIf(!svc)('Mission Control in headless Chromium', () => {
  let t: TestGateway;
  let client: PcmClient;
  let ctx: BrowserContext;
  let page: Page;
  let profile: string;
  const received: unknown[] = [];

  beforeAll(async () => {
    t = await startGateway({ mqtt: false, config: { adminKeys: [ADMIN_KEY] } });
    client = new PcmClient({
      terminalId: TERMINAL,
      token: await t.token(TERMINAL),
      protocol: 'websocket',
      url: `ws://127.0.0.1:${t.httpPort}/v1/connect`,
      overrides: { heartbeatMs: 2000, backoff: { baseMs: 50, capMs: 500 }, connectTimeoutMs: 3000 },
      duplicateStore: new MemoryDuplicateStore(),
      handler: (m) => {
        received.push(m.payload);
        return { pong: true };
      },
    });
    const connected = new Promise((r) => client.once('connected', r));
    client.start();
    await connected;
    profile = mkdtempSync(path.join(tmpdir(), 'pcm-chromium-'));
    // A persistent context is how playwright takes a fresh --user-data-dir of our choosing.
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: svc!.PCM_TEST_CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      timeout: 60_000,
    });
    page = ctx.pages()[0] ?? (await ctx.newPage());
    page.setDefaultTimeout(15_000);
  }, 120_000);

  afterAll(async () => {
    await ctx?.close().catch(() => undefined);
    await client?.stop().catch(() => undefined);
    await t?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('refuses a wrong admin key', async () => {
    await page.goto(`${t.base}/mission-control`);
    await page.fill('#admin-key', 'not-the-admin-key');
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#login-error:has-text("sign-in failed")');
    expect(await page.isVisible('#console')).toBe(false);
    // The sender API key is not an admin key either.
    await page.fill('#admin-key', t.apiKey);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#login-error:has-text("sign-in failed")');
    expect(await page.isVisible('#console')).toBe(false);
  });

  it('finds the terminal, pings it, sends a message and sees it acked', async () => {
    await page.fill('#admin-key', ADMIN_KEY);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#console', { state: 'visible' });
    await page.waitForFunction(() => document.getElementById('online-websocket')?.textContent === '1');
    expect(await page.textContent('#gateway')).toBe('gateway gw-0');

    await page.fill('#search', 'mc-term');
    await page.click(`#results a:has-text("${TERMINAL}")`);
    await page.waitForSelector('#p-online:has-text("yes")');
    expect(await page.textContent('#p-protocol')).toBe('websocket');
    expect(await page.textContent('#p-gateway')).toBe('gw-0');

    await page.click('#ping');
    await page.waitForSelector('#rtt.ok');
    const rtt = (await page.textContent('#rtt'))!;
    const m = /round trip (\d+(?:\.\d+)?) ms \(gateway\)/.exec(rtt);
    expect(m, rtt).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(0);
    expect(Number(m![1])).toBeLessThan(5000);
    expect(received).toContainEqual(expect.objectContaining({ ping: expect.any(Number) }));

    await page.fill('#payload', '{"from":"mission control test"}');
    await page.click('#send');
    await page.waitForSelector('#send-result.ok');
    const seq = await page.getAttribute('#send-result', 'data-seq');
    expect(Number(seq)).toBeGreaterThan(0);
    await page.waitForSelector(`#timeline tr[data-type=acked][data-seq="${seq}"]`);
    await page.waitForSelector(`#timeline tr[data-type=delivered][data-seq="${seq}"]`);
    expect(received).toContainEqual({ from: 'mission control test' });
    // the ping shows in the timeline as request + reply
    expect(await page.locator('#timeline tr[data-type=request]').count()).toBeGreaterThanOrEqual(1);
    expect(await page.locator('#timeline tr[data-type=reply]').count()).toBeGreaterThanOrEqual(1);
    await page.waitForFunction(() => Number(document.getElementById('p-last-acked-seq')?.textContent) >= 2);

    mkdirSync(artifacts, { recursive: true });
    const shot = path.join(artifacts, 'mission-control.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(5_000);
  }, 90_000);

  it('purges an offline terminal\'s pending messages, only after the confirmation', async () => {
    const offline = 'mc-offline-1';
    for (let i = 0; i < 3; i++) expect((await t.send(offline, { payload: { i } })).status).toBe(202);
    if (!(await page.isVisible('#console'))) {
      await page.fill('#admin-key', ADMIN_KEY);
      await page.click('#login-form button[type=submit]');
      await page.waitForSelector('#console', { state: 'visible' });
    }
    await page.fill('#search', offline);
    await page.click(`#results a:has-text("${offline}")`);
    await page.waitForSelector('#p-pending:has-text("3")');
    // the pending list: three rows, oldest first, metadata only
    await page.waitForSelector('#pending tbody tr[data-seq="3"]');
    expect(await page.locator('#pending tbody tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.seq))).toEqual(['1', '2', '3']);
    expect(await page.textContent('#pending')).not.toContain('"i"');
    // dismissed: nothing happens
    page.once('dialog', (d) => void d.dismiss());
    await page.click('#purge');
    await new Promise((r) => setTimeout(r, 300));
    expect(await page.textContent('#purge-result')).toBe('');
    expect((await t.get(`/v1/terminals/${offline}`)).body.pending).toBe(3);
    // accepted: purged, and the page shows it
    page.once('dialog', (d) => void d.accept());
    await page.click('#purge');
    await page.waitForSelector('#purge-result.ok');
    expect(await page.textContent('#purge-result')).toBe('purged 3 message(s); ack cursor at 3');
    await page.waitForSelector('#p-pending:has-text("0")');
    await page.waitForFunction(() => document.querySelectorAll('#pending tbody tr').length === 0);
    await page.waitForSelector('#timeline tr[data-type=acked][data-seq="3"]');
    expect((await t.get(`/v1/terminals/${offline}`)).body).toMatchObject({ pending: 0, lastAckedSeq: 3 });
  }, 60_000);
});
