import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { apiKeyDigests, hashApiKey } from '../../gateway/adapters/http/api-key.js';
import { startGateway, type TestGateway } from '../e2e/harness.js';

const CLEAR = 'clear-key-0123456789';
const HASHED_ONLY = 'hashed-key-abcdefghij';

describe('API keys: hashed in memory, optional sha256:<hex> in config, constant-time compare (issue 8)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({ config: { apiKeys: [CLEAR, hashApiKey(HASHED_ONLY)] }, mqtt: false });
  });
  afterAll(() => t.close());

  it('hashApiKey is sha256:<hex of the key>', () => {
    expect(hashApiKey('abc')).toBe(`sha256:${createHash('sha256').update('abc').digest('hex')}`);
  });

  it('keeps only 32-byte digests, for clear and pre-hashed keys alike', () => {
    const ds = apiKeyDigests([CLEAR, hashApiKey(HASHED_ONLY), ` ${hashApiKey(HASHED_ONLY).toUpperCase().replace('SHA256', 'sha256')} `]);
    expect(ds.map((d) => d.length)).toEqual([32, 32, 32]);
    expect(ds[1]!.equals(createHash('sha256').update(HASHED_ONLY).digest())).toBe(true);
    expect(ds[2]!.equals(ds[1]!)).toBe(true);
    for (const d of ds) expect(d.toString('latin1')).not.toContain('key');
  });

  it('a clear key and a key configured only by its hash both authenticate', async () => {
    expect((await t.send('term-1', { payload: 1 }, CLEAR)).status).toBe(202);
    expect((await t.send('term-1', { payload: 2 }, HASHED_ONLY)).status).toBe(202);
  });

  it('the hash itself is not a key: presenting "sha256:<hex>" is refused', async () => {
    const r = await t.send('term-1', { payload: 3 }, hashApiKey(HASHED_ONLY));
    expect(r.status).toBe(401);
    expect(r.body.code).toBe('PCM_ERR_UNAUTHORIZED');
  });

  it('wrong, prefix, longer and empty keys are refused with 401 and nothing is stored', async () => {
    for (const k of [CLEAR.slice(0, -1), CLEAR + 'x', 'x'.repeat(10_000), '']) {
      const r = await t.send('term-2', { payload: 'x' }, k || null);
      expect(r.status).toBe(401);
    }
    expect((await t.get('/v1/terminals/term-2', CLEAR)).body.pending).toBe(0);
  });
});
