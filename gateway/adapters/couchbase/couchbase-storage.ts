import { systemClock, type Clock } from '../../../common/clock.js';
import type { CouchbaseStoreConfig } from './couchbase-config.js';
import { CouchbaseConnection } from './couchbase-connection.js';
import { CouchbaseSessionDirectory } from './couchbase-directory.js';
import { CouchbaseMessageStore, type CouchbaseMessageStoreOptions } from './couchbase-store.js';

/**
 * What `--store couchbase` wires: the message store and the session directory over ONE
 * cluster connection (one set of sockets, one waitUntilReady). Each closes independently
 * (e.g. in the gateway's onClose); the connection closes with the last of them.
 */
export async function connectCouchbaseStorage(
  cfg: CouchbaseStoreConfig,
  opts: { clock?: Clock; store?: CouchbaseMessageStoreOptions } = {},
): Promise<{ store: CouchbaseMessageStore; directory: CouchbaseSessionDirectory }> {
  const conn = await CouchbaseConnection.connect(cfg);
  const store = new CouchbaseMessageStore(conn, { ...opts.store, ownsConnection: true });
  const directory = new CouchbaseSessionDirectory(conn.acquire(), opts.clock ?? systemClock, true);
  return { store, directory };
}
