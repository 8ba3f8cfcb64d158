import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaRelayBus } from '../../../gateway/adapters/kafka/kafka-relay.js';
import { collector, sampleDeliver } from '../../contract/relay-bus.contract.js';
import { needService } from '../../services/env.js';
import { deleteTopics, kafkaRelayFixture } from './kafka-fixture.js';

/**
 * A relay topic deleted under running gateways (an operator's mistake, or a broker that came
 * back without its data): the owner's consumer stops for good in kafkajs, the adapter
 * rebuilds it (re-creating the topic), and the sender's producer, which kafkajs would keep
 * failing on the missing topic, is replaced. Events sent after recovery arrive.
 */
const kafka = needService('kafka', ['PCM_TEST_KAFKA_BROKERS']);

describe.skipIf(!kafka)('Kafka relay: a gateway topic deleted under running gateways', () => {
  const brokers = kafka ? kafka.PCM_TEST_KAFKA_BROKERS!.split(',') : [];
  const fx = kafka ? kafkaRelayFixture(brokers) : undefined;
  afterAll(async () => {
    if (fx) await deleteTopics(brokers, fx.prefix);
  });

  it('the owner rebuilds its consumer and topic; the sender recovers; later events arrive in order', async () => {
    const sender = new KafkaRelayBus(fx!.options);
    const owner = new KafkaRelayBus(fx!.options);
    const got = collector();
    await Promise.all([sender.start('s', () => {}), owner.start('o', got.handler)]);
    try {
      await sender.send('o', sampleDeliver('s', 't', 1));
      await got.waitFor(1, 15_000);

      const admin = new Kafka({ clientId: 'pcm-test-admin', brokers, logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      await admin.deleteTopics({ topics: [`${fx!.prefix}.gw.o`], timeout: 10_000 });
      await admin.disconnect();

      // Keep sending until the relay recovered: sends may be dropped or refused meanwhile
      // (accelerator semantics), but must never hang or throw anything but PcmErrors.
      let seq = 1;
      const deadline = Date.now() + 40_000;
      while (Date.now() < deadline) {
        seq++;
        await sender.send('o', sampleDeliver('s', 't', seq)).catch((e) => expect(e.code).toMatch(/^PCM_ERR_/));
        if (got.events.some((e) => e.kind === 'deliver' && e.message.seq === seq)) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      const recoveredAt = seq;
      expect(got.events.some((e) => e.kind === 'deliver' && e.message.seq === recoveredAt)).toBe(true);
      for (let i = 1; i <= 20; i++) await sender.send('o', sampleDeliver('s', 't', recoveredAt + i));
      const afterRecovery = () => got.events.filter((e) => e.kind === 'deliver' && e.message.seq > recoveredAt).map((e) => (e.kind === 'deliver' ? e.message.seq : 0));
      const until = Date.now() + 15_000;
      while (afterRecovery().length < 20 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      const after = afterRecovery();
      expect(after).toEqual(Array.from({ length: 20 }, (_, i) => recoveredAt + i + 1));
      const s = owner.stats();
      console.info(`topic loss: recovered after ${recoveredAt - 1} sends; owner crashes ${s.consumerCrashes}, rebuilds ${s.consumerRebuilds}; sender publish errors ${sender.stats().publishErrors}`);
    } finally {
      await Promise.all([sender.close(), owner.close()]);
    }
  }, 150_000);
});
