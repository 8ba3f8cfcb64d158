import { describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { loadConfig } from '../../../common/config.js';
import { isPcmError } from '../../../common/errors.js';
import { couchbaseConfigFrom, couchbaseConfigProperties } from './couchbase-config.js';

describe('couchbase config', () => {
  const schema = Type.Object(couchbaseConfigProperties);

  it('reads PCM_COUCHBASE_* and the password from a mounted secret file', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const secret = path.join(mkdtempSync(path.join(tmpdir(), 'pcm-cb-')), 'password');
    writeFileSync(secret, 's3cret\n');
    const cfg = loadConfig(schema, {
      env: { PCM_COUCHBASE_CONNECTION_STRING: 'couchbase://10.0.0.5', PCM_COUCHBASE_USERNAME: 'pcm-gw', PCM_COUCHBASE_PASSWORD_FILE: secret },
    });
    expect(couchbaseConfigFrom(cfg)).toEqual({
      connectionString: 'couchbase://10.0.0.5',
      bucket: 'pcm',
      scope: '_default',
      collection: '_default',
      username: 'pcm-gw',
      password: 's3cret',
      kvTimeoutMs: 2500,
      connectTimeoutMs: 10_000,
    });
  });

  it('PCM_COUCHBASE_DURABILITY: none by default (not requested), a level maps to the SDK enum, anything else is refused', async () => {
    const { DurabilityLevel } = await import('couchbase');
    const { durabilityLevelOf } = await import('./couchbase-connection.js');
    const base = { PCM_COUCHBASE_CONNECTION_STRING: 'couchbase://10.0.0.5' };
    expect(couchbaseConfigFrom(loadConfig(schema, { env: base })).durability).toBeUndefined();
    const cfg = couchbaseConfigFrom(loadConfig(schema, { env: { ...base, PCM_COUCHBASE_DURABILITY: 'majority' } }));
    expect(cfg.durability).toBe('majority');
    expect(durabilityLevelOf(cfg.durability)).toBe(DurabilityLevel.Majority);
    expect(durabilityLevelOf('persistToMajority')).toBe(DurabilityLevel.PersistToMajority);
    expect(durabilityLevelOf(undefined)).toBeUndefined();
    expect(() => loadConfig(schema, { env: { ...base, PCM_COUCHBASE_DURABILITY: 'always' } })).toThrow(/couchbaseDurability/);
  });

  it('names the missing connection string', () => {
    const cfg = loadConfig(schema, { env: {} });
    let err: unknown;
    try {
      couchbaseConfigFrom(cfg);
    } catch (e) {
      err = e;
    }
    expect(isPcmError(err, 'PCM_ERR_CONFIG')).toBe(true);
    expect((err as Error).message).toContain('PCM_COUCHBASE_CONNECTION_STRING');
  });
});
