import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { createLogger } from '../../../common/logger.js';
import { KafkaRelayBus, type KafkaRelayOptions } from '../../../gateway/adapters/kafka/kafka-relay.js';
import type { RelayBusFixture } from '../../contract/relay-bus.contract.js';

/** Kafka-backed relay fixture: a fresh topic prefix per fixture; teardown deletes its topics. */
export function kafkaRelayFixture(brokers: string[], extra: Partial<KafkaRelayOptions> = {}): RelayBusFixture & { prefix: string; options: KafkaRelayOptions } {
  const prefix = `pcmtest-${randomUUID().slice(0, 8)}`;
  const logger = createLogger('test', process.env.PCM_TEST_LOG_LEVEL ?? 'error');
  const options: KafkaRelayOptions = { brokers, topicPrefix: prefix, logger, startTimeoutMs: 30_000, ...extra };
  return {
    prefix,
    options,
    newBus: () => new KafkaRelayBus(options),
    quietMs: 750,
    deliveryTimeoutMs: 15_000,
    teardown: () => deleteTopics(brokers, prefix),
  };
}

export async function deleteTopics(brokers: string[], prefix: string): Promise<void> {
  const admin = new Kafka({ clientId: 'pcm-test-cleanup', brokers, logLevel: logLevel.NOTHING }).admin();
  try {
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`));
    if (topics.length) await admin.deleteTopics({ topics, timeout: 10_000 });
  } catch {
    // Best effort: the test bed's `down` wipes the data dir anyway.
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
