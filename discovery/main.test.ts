import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { silentLogger } from '../common/logger.js';
import { mintTerminalToken } from '../protocol/token.js';
import { loadDiscoveryConfig } from './config.js';
import { createGatewaySource, startDiscovery, type RunningDiscovery } from './main.js';
import { FileGatewaySource } from './sources/file.js';
import { StaticGatewaySource } from './sources/static.js';

const SECRET = 'main-test-secret-0123456789abcdef';

describe('discovery config and wiring', () => {
  let running: RunningDiscovery | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('defaults, env names, and errors that name the field', () => {
    const c = loadDiscoveryConfig({ env: { PCM_TERMINAL_JWT_SECRET: SECRET } });
    expect(c).toMatchObject({ discoveryPort: 8081, discoveryPollSeconds: 60, logLevel: 'info' });
    expect(Object.isFrozen(c)).toBe(true);
    expect(() => loadDiscoveryConfig({ env: { PCM_TERMINAL_JWT_SECRET: SECRET, PCM_DISCOVERY_PORT: '70000' } })).toThrow(/discoveryPort \(PCM_DISCOVERY_PORT \/ --discovery-port\)/);
    expect(() => loadDiscoveryConfig({ env: {} })).toThrow(/terminalJwtSecret/);
    expect(() => loadDiscoveryConfig({ env: { PCM_TERMINAL_JWT_SECRET: SECRET, PCM_DISCOVERY_POLL_SECONDS: '0' } })).toThrow(/discoveryPollSeconds/);
  });

  it('picks the file source over the static list, and refuses to start with no gateway set', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-main-'));
    const file = path.join(dir, 'g.json');
    writeFileSync(file, '[]');
    const env = { PCM_TERMINAL_JWT_SECRET: SECRET, PCM_GATEWAYS_FILE: file, PCM_GATEWAYS: 'a|ws://a/v1/connect|mqtt://a:1883' };
    const s1 = await createGatewaySource(loadDiscoveryConfig({ env }), silentLogger);
    expect(s1).toBeInstanceOf(FileGatewaySource);
    await s1.close();
    const s2 = await createGatewaySource(loadDiscoveryConfig({ env: { ...env, PCM_GATEWAYS_FILE: '' } }), silentLogger);
    expect(s2).toBeInstanceOf(StaticGatewaySource);
    expect(s2.current().gateways.map((g) => g.id)).toEqual(['a']);
    await expect(createGatewaySource(loadDiscoveryConfig({ env: { PCM_TERMINAL_JWT_SECRET: SECRET } }), silentLogger)).rejects.toThrow(/no gateway set/);
    await expect(createGatewaySource(loadDiscoveryConfig({ env: { PCM_TERMINAL_JWT_SECRET: SECRET, PCM_GATEWAYS: 'a|http://x|mqtt://x' } }), silentLogger)).rejects.toThrow(/websocketUrl/);
  });

  it('startDiscovery listens and answers', async () => {
    running = await startDiscovery(
      loadDiscoveryConfig({ env: { PCM_TERMINAL_JWT_SECRET: SECRET, PCM_DISCOVERY_PORT: '0', PCM_DISCOVERY_HOST: '127.0.0.1', PCM_GATEWAYS: 'gw-0|ws://127.0.0.1:8080/v1/connect|mqtt://127.0.0.1:1883' } }),
      silentLogger,
    );
    const res = await fetch(`${running.url}/v1/discovery/t-1`, { headers: { authorization: `Bearer ${await mintTerminalToken(SECRET, 't-1')}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ gatewayId: 'gw-0', generation: 1 });
  });
});
