import { afterAll, describe, expect, it } from 'vitest';
import { KafkaRelayBus } from '../../../gateway/adapters/kafka/kafka-relay.js';
import { needService } from '../../services/env.js';
import { deleteTopics, kafkaRelayFixture } from './kafka-fixture.js';

/**
 * Two processes configured with the same gateway id join one consumer group and split its
 * partitions, so each silently misses part of its events. The in-process hub refuses the
 * second start; on Kafka the bus cannot, so it must at least say so loudly.
 */
const kafka = needService('kafka', ['PCM_TEST_KAFKA_BROKERS']);

describe.skipIf(!kafka)('Kafka relay: duplicate gateway id', () => {
  const brokers = kafka ? kafka.PCM_TEST_KAFKA_BROKERS!.split(',') : [];
  const fx = kafka ? kafkaRelayFixture(brokers) : undefined;
  afterAll(async () => {
    if (fx) await deleteTopics(brokers, fx.prefix);
  });

  it('a second bus with the same id splits the group and is reported (assignmentWarnings)', async () => {
    const first = new KafkaRelayBus(fx!.options);
    const second = new KafkaRelayBus(fx!.options);
    await first.start('same', () => {});
    expect(first.stats().assignmentWarnings).toBe(0);
    try {
      await second.start('same', () => {});
      const deadline = Date.now() + 30_000;
      while (first.stats().assignmentWarnings + second.stats().assignmentWarnings === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(first.stats().assignmentWarnings + second.stats().assignmentWarnings).toBeGreaterThan(0);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  }, 60_000);
});
