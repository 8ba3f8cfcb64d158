import { afterAll, beforeAll, describe } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import { CouchbaseConnection } from '../../../gateway/adapters/couchbase/couchbase-connection.js';
import { CouchbaseSessionDirectory } from '../../../gateway/adapters/couchbase/couchbase-directory.js';
import { keys } from '../../../gateway/adapters/couchbase/couchbase-keys.js';
import { CouchbaseMessageStore } from '../../../gateway/adapters/couchbase/couchbase-store.js';
import { messageStoreContract } from '../../contract/message-store.contract.js';
import { sessionDirectoryContract } from '../../contract/session-directory.contract.js';
import { couchbaseTestBed, mockTimeTravel } from './couchbase-env.js';

// Against the test bed's CouchbaseMock. Every contract case uses fresh terminal ids, so the
// shared bucket needs no flushing; TTL cases move the mock's clock (time_travel) and the
// suite's clock together.
const bed = couchbaseTestBed();

describe.skipIf(!bed)('couchbase adapters against CouchbaseMock', () => {
  let conn: CouchbaseConnection;
  beforeAll(async () => {
    conn = await CouchbaseConnection.connect(bed!.config);
  });
  afterAll(async () => {
    await conn?.close();
  });

  messageStoreContract('couchbase', async () => {
    const clock = new ManualClock(Date.now());
    let store = new CouchbaseMessageStore(conn);
    let own: CouchbaseConnection | undefined;
    let traveled = 0;
    return {
      store,
      clock,
      timeTravel: async (ms) => {
        await mockTimeTravel(bed!.mockUrl, ms);
        traveled += ms;
        clock.advance(ms);
      },
      // A new connection (as after a gateway restart) reading what the server kept.
      restart: async () => {
        await own?.close();
        own = await CouchbaseConnection.connect(bed!.config);
        store = new CouchbaseMessageStore(own);
        return store;
      },
      loseCounter: async (t) => {
        await conn.collection.remove(keys.counter(t));
      },
      // The mock's clock is shared by every test file: put it back (docs/testing.md).
      cleanup: async () => {
        if (traveled) await mockTimeTravel(bed!.mockUrl, -traveled);
        await own?.close();
      },
    };
  });

  sessionDirectoryContract('couchbase', async () => {
    const clock = new ManualClock(Date.now());
    let traveled = 0;
    return {
      directory: new CouchbaseSessionDirectory(conn, clock),
      clock,
      timeTravel: async (ms) => {
        await mockTimeTravel(bed!.mockUrl, ms);
        traveled += ms;
        clock.advance(ms);
      },
      cleanup: async () => {
        if (traveled) await mockTimeTravel(bed!.mockUrl, -traveled);
      },
    };
  });
});
