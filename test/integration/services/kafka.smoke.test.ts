import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';
import { needService } from '../../services/env.js';

// Smoke test of the Kafka test bed (issue 3, DESIGN.md section 6): a real single-node KRaft
// broker from the Maven Central jars. Start it with `npm run services -- up kafka`.
const svc = needService('kafka', ['PCM_TEST_KAFKA_BROKERS']);

describe.skipIf(!svc)('kafka test bed', () => {
  const kafka = new Kafka({
    clientId: 'pcm-kafka-smoke',
    brokers: (svc?.PCM_TEST_KAFKA_BROKERS ?? '').split(','),
    logLevel: logLevel.NOTHING,
  });
  const suffix = randomBytes(4).toString('hex');
  const topic = `pcm-smoke-${suffix}`;
  const admin = kafka.admin();
  let producer: Producer | undefined;
  let consumer: Consumer | undefined;

  afterAll(async () => {
    await consumer?.disconnect();
    await producer?.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('reports one broker on 127.0.0.1', async () => {
    await admin.connect();
    const cluster = await admin.describeCluster();
    expect(cluster.brokers).toHaveLength(1);
    expect(cluster.brokers[0]!.host).toBe('127.0.0.1');
  });

  it('produces and consumes through a consumer group', async () => {
    expect(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true })).toBe(true);

    producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const sent = ['m0', 'm1', 'm2'].map((v) => ({ key: 'terminal-1', value: `${v}-${suffix}` }));
    await producer.send({ topic, messages: sent, acks: -1 });

    const groupId = `pcm-smoke-group-${suffix}`;
    consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 500 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only got ${received.length}/3 messages in 30 s`)), 30_000);
      void consumer!.run({
        eachMessage: async ({ message }) => {
          received.push(message.value!.toString());
          if (received.length === sent.length) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await done;
    // Same key → same partition → the group sees them in produce order.
    expect(received).toEqual(sent.map((m) => m.value));

    // The group's offsets were committed to the broker (the group coordinator works).
    await consumer.disconnect();
    consumer = undefined;
    const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committed = offsets[0]!.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
    expect(committed).toBe(3);
  });

  it('does not auto-create topics (the documented broker setting)', async () => {
    // kafka.sh sets auto.create.topics.enable=false unless PCM_KAFKA_AUTO_CREATE_TOPICS=true.
    if (svc?.PCM_TEST_KAFKA_AUTO_CREATE_TOPICS === 'true') return;
    const p = kafka.producer({ allowAutoTopicCreation: true, retry: { retries: 1 } });
    await p.connect();
    try {
      await expect(p.send({ topic: `pcm-smoke-absent-${suffix}`, messages: [{ value: 'x' }] })).rejects.toThrow();
    } finally {
      await p.disconnect();
    }
  });
});
