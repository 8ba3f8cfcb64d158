import { needService } from '../../services/env.js';
import type { CouchbaseStoreConfig } from '../../../gateway/adapters/couchbase/couchbase-config.js';

/** The test bed's CouchbaseMock (`npm run services -- up couchbase`), or undefined (skip outside CI). */
export function couchbaseTestBed(): { config: CouchbaseStoreConfig; mockUrl: string } | undefined {
  const env = needService('couchbase', [
    'PCM_TEST_COUCHBASE_CONNSTR',
    'PCM_TEST_COUCHBASE_BUCKET',
    'PCM_TEST_COUCHBASE_USERNAME',
    'PCM_TEST_COUCHBASE_PASSWORD',
    'PCM_TEST_COUCHBASE_MOCK_URL',
  ]);
  if (!env) return undefined;
  return {
    config: {
      connectionString: env.PCM_TEST_COUCHBASE_CONNSTR!,
      bucket: env.PCM_TEST_COUCHBASE_BUCKET!,
      username: env.PCM_TEST_COUCHBASE_USERNAME!,
      password: env.PCM_TEST_COUCHBASE_PASSWORD!,
      connectAttempts: 2,
    },
    mockUrl: env.PCM_TEST_COUCHBASE_MOCK_URL!,
  };
}

/**
 * Moves the mock's clock (its REST control API; negative moves it back), so documents
 * expire as they would on a server after that long: TTL tests never sleep. The mock's
 * resolution is 1 s. The offset is process-wide: travel back when done.
 */
export async function mockTimeTravel(mockUrl: string, ms: number): Promise<void> {
  const secs = Math.sign(ms) * Math.ceil(Math.abs(ms) / 1000);
  const res = await fetch(`${mockUrl}/mock/time_travel?Offset=${secs}`);
  const body = (await res.json()) as { status?: string };
  if (!res.ok || body.status !== 'ok') throw new Error(`CouchbaseMock time_travel failed: ${res.status} ${JSON.stringify(body)}`);
}
