/**
 * One gateway process for the multi-gateway tests, wired like production mode
 * (`--relay kafka --store couchbase|sqlite`) through the same buildGateway() the CLI uses.
 * Stand-in until `pcm gateway` is the launcher (see gateway-procs.ts): besides the gateway it
 * answers `stats` lines on stdin with the relay's counters, which the tests need to prove a
 * bystander gateway consumed nothing (the gateway's /metrics does not export them yet).
 *
 * Reads its settings from the environment through the gateway's own config schema
 * (PCM_GATEWAY_ID, PCM_RELAY, PCM_KAFKA_BROKERS, PCM_KAFKA_TOPIC_PREFIX, PCM_STORE, ...);
 * PCM_TEST_SQLITE_FILE names the shared SQLite file, PCM_TEST_COUCHBASE_* the mock.
 * stdout: one JSON line per event: {"event":"ready",...}, {"event":"stats",...}.
 */
import { createInterface } from 'node:readline';
import { loadConfig } from '../../../common/config.js';
import { createLogger } from '../../../common/logger.js';
import { buildGateway } from '../../../gateway/app.js';
import { GatewayConfigSchema } from '../../../gateway/config.js';
import { KafkaRelayBus } from '../../../gateway/adapters/kafka/kafka-relay.js';
import { SqliteMessageStore } from '../../../gateway/adapters/sqlite/sqlite-store.js';
import { SqliteSessionDirectory } from '../../../gateway/adapters/sqlite/sqlite-directory.js';
import { CouchbaseMessageStore } from '../../../gateway/adapters/couchbase/couchbase-store.js';
import { CouchbaseSessionDirectory } from '../../../gateway/adapters/couchbase/couchbase-directory.js';
import type { MessageStore } from '../../../gateway/ports/message-store.js';
import type { SessionDirectory } from '../../../gateway/ports/session-directory.js';

const out = (obj: unknown) => process.stdout.write(JSON.stringify(obj) + '\n');

async function main(): Promise<void> {
  const config = loadConfig(GatewayConfigSchema);
  const logger = createLogger('gateway', config.logLevel ?? 'warn').child({ gatewayId: config.gatewayId });
  let store: MessageStore;
  let directory: SessionDirectory;
  if (config.store === 'couchbase') {
    const cb = {
      connectionString: process.env.PCM_TEST_COUCHBASE_CONNSTR!,
      bucket: process.env.PCM_TEST_COUCHBASE_BUCKET ?? 'pcm',
      username: process.env.PCM_TEST_COUCHBASE_USERNAME ?? 'Administrator',
      password: process.env.PCM_TEST_COUCHBASE_PASSWORD ?? 'password',
    };
    store = await CouchbaseMessageStore.connect(cb);
    directory = await CouchbaseSessionDirectory.connect(cb);
  } else {
    const file = process.env.PCM_TEST_SQLITE_FILE!;
    store = new SqliteMessageStore({ file, synchronous: 'NORMAL' });
    directory = new SqliteSessionDirectory({ file: file.replace(/\.db$/, '') + '-dir.db' });
  }
  const relay = new KafkaRelayBus({ brokers: [...config.kafkaBrokers], topicPrefix: config.kafkaTopicPrefix, logger });
  const gw = await buildGateway({ config, store, directory, relay, logger, mqtt: true });
  const ports = await gw.listen();
  out({ event: 'ready', gatewayId: config.gatewayId, ...ports });
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() === 'stats') out({ event: 'stats', ...relay.stats() });
  });
  const stop = async () => {
    await gw.close().catch(() => {});
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err) => {
  out({ event: 'error', message: (err as Error).message });
  process.exit(1);
});
