import type { Producer, ProducerBatch } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { isPcmError } from '../../../common/errors.js';
import { silentLogger } from '../../../common/logger.js';
import { Publisher, type PublisherOptions } from './publisher.js';

/**
 * Publisher logic with a scripted producer (the real producer path is exercised against
 * Kafka in test/integration/kafka/): one request in flight, order kept through failures,
 * natural batching, deadlines, the queue bound and dropped topics.
 */
class ScriptedProducer {
  batches: Array<Array<{ topic: string; value: string }>> = [];
  inFlight = 0;
  maxInFlight = 0;
  failuresLeft = 0;
  failWith: Error = new Error('broker down');
  async sendBatch(b: ProducerBatch): Promise<[]> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setTimeout(r, 2));
    this.inFlight--;
    if (this.failuresLeft > 0) {
      this.failuresLeft--;
      throw this.failWith;
    }
    this.batches.push(b.topicMessages!.flatMap((tm) => tm.messages.map((m) => ({ topic: tm.topic, value: String(m.value) }))));
    return [];
  }
  values(topic?: string): string[] {
    return this.batches.flat().filter((m) => !topic || m.topic === topic).map((m) => m.value);
  }
}

const opts = (o: Partial<PublisherOptions> = {}): PublisherOptions => ({ acks: -1, publishTimeoutMs: 5_000, maxQueued: 10_000, maxBatch: 500, ackTimeoutMs: 1_000, ...o });
const make = (p: ScriptedProducer, o: Partial<PublisherOptions> = {}, recover?: (err: unknown, topics: string[]) => Promise<Set<string>>) =>
  new Publisher(() => p as unknown as Producer, opts(o), silentLogger, recover);

describe('Publisher', () => {
  it('keeps one request in flight and batches what arrives meanwhile, in order', async () => {
    const p = new ScriptedProducer();
    const pub = make(p);
    await Promise.all(Array.from({ length: 300 }, (_, i) => pub.publish('a', String(i), undefined, {})));
    expect(p.maxInFlight).toBe(1);
    expect(p.values()).toEqual(Array.from({ length: 300 }, (_, i) => String(i)));
    expect(p.batches.length).toBeLessThan(300); // natural batching happened
    expect(p.batches[0]).toHaveLength(1); // an idle publisher sends the first event alone, at once
  });

  it('retries failed requests without reordering or losing events', async () => {
    const p = new ScriptedProducer();
    p.failuresLeft = 3;
    const pub = make(p);
    const sends = Array.from({ length: 50 }, (_, i) => pub.publish(i % 2 ? 'a' : 'b', String(i), undefined, {}));
    await Promise.all(sends);
    expect(p.values('a')).toEqual(Array.from({ length: 25 }, (_, i) => String(2 * i + 1)));
    expect(p.values('b')).toEqual(Array.from({ length: 25 }, (_, i) => String(2 * i)));
    expect(pub.errors).toBe(3);
  });

  it('gives up events past their deadline with PCM_ERR_RELAY_UNAVAILABLE and never publishes them later', async () => {
    const p = new ScriptedProducer();
    p.failuresLeft = 1_000_000;
    const pub = make(p, { publishTimeoutMs: 300 });
    const r = pub.publish('a', 'late', undefined, {});
    await expect(r).rejects.toSatisfy((e: unknown) => isPcmError(e, 'PCM_ERR_RELAY_UNAVAILABLE'));
    p.failuresLeft = 0;
    await pub.publish('a', 'fresh', undefined, {});
    expect(p.values()).toEqual(['fresh']);
    expect(pub.expired).toBe(1);
  });

  it('refuses events beyond maxQueued at once', async () => {
    const p = new ScriptedProducer();
    const pub = make(p, { maxQueued: 5 });
    const ok = Array.from({ length: 5 }, (_, i) => pub.publish('a', String(i), undefined, {}));
    await expect(pub.publish('a', 'x', undefined, {})).rejects.toSatisfy((e: unknown) => isPcmError(e, 'PCM_ERR_RELAY_UNAVAILABLE'));
    await Promise.all(ok);
    expect(pub.refused).toBe(1);
  });

  it('drops queued events of topics that recover() reports gone, and keeps going', async () => {
    const p = new ScriptedProducer();
    p.failuresLeft = 1;
    const pub = make(p, {}, async (_err, topics) => new Set(topics.filter((t) => t === 'gone')));
    const sends = [pub.publish('gone', '1', undefined, {}), pub.publish('live', '2', undefined, {}), pub.publish('gone', '3', undefined, {})];
    await Promise.all(sends);
    expect(p.values()).toEqual(['2']);
    expect(pub.droppedMissingTopic).toBe(2);
  });

  it('close() rejects what is still queued after the grace period and refuses new events', async () => {
    const p = new ScriptedProducer();
    p.failuresLeft = 1_000_000;
    const pub = make(p);
    const stuck = pub.publish('a', '1', undefined, {});
    await pub.close(50);
    await expect(stuck).rejects.toSatisfy((e: unknown) => isPcmError(e, 'PCM_ERR_RELAY_UNAVAILABLE'));
    await expect(pub.publish('a', '2', undefined, {})).rejects.toSatisfy((e: unknown) => isPcmError(e, 'PCM_ERR_NOT_READY'));
  });
});
