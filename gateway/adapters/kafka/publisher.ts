import type { IHeaders, Message, Producer } from 'kafkajs';
import { Backoff, sleep } from '../../../common/backoff.js';
import { PcmError } from '../../../common/errors.js';
import type { Logger } from '../../../common/logger.js';

interface Pending {
  topic: string;
  message: Message;
  deadline: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface PublisherOptions {
  /** -1: all in-sync replicas (default), 1: leader only. See docs/relay.md "Producer". */
  acks: -1 | 1;
  /** How long an event may wait for the broker (queued through an outage) before it is given up. */
  publishTimeoutMs: number;
  /** Queue bound: beyond it new events are refused at once (the store still has the messages). */
  maxQueued: number;
  /** Records per produce request. */
  maxBatch: number;
  /** Broker-side wait for the in-sync replicas (acks -1). */
  ackTimeoutMs: number;
}

/**
 * The producer side of the Kafka relay: "linger 0 with natural batching". kafkajs has no
 * linger.ms; calling producer.send() per event with several requests in flight can reorder
 * records when one request is retried. Instead one request is in flight at a time: an idle
 * publisher sends an event immediately (latency = one broker round trip), and events that
 * arrive while a request is in flight go together in the next one (throughput grows with
 * load). One request at a time also keeps per-partition order through retries, which the
 * per-terminal sequence order of DESIGN.md invariant 2.2 relies on.
 *
 * Through a broker outage the head of the queue is retried with full-jitter backoff until
 * its deadline; events past it are rejected (PCM_ERR_RELAY_UNAVAILABLE) and dropped: the
 * store is the source of truth (invariant 2.7), the owning gateway drains on reconnect/resync.
 */
export class Publisher {
  private queue: Pending[] = [];
  private running = false;
  private closed = false;
  private readonly backoff = new Backoff({ baseMs: 100, capMs: 2_000 });
  private idle: Promise<void> = Promise.resolve();
  /** Aborted by close(): cuts a retry backoff short. */
  private readonly stopping = new AbortController();
  errors = 0;
  expired = 0;
  refused = 0;
  requests = 0;

  droppedMissingTopic = 0;

  /**
   * `recover` is called after a failed request: it returns the topics of the batch that no
   * longer exist (their events are dropped, see KafkaRelayBus.recoverPublish) and may swap the
   * producer, which is why the producer is read through a getter.
   */
  constructor(
    private readonly producer: () => Producer,
    private readonly opts: PublisherOptions,
    private readonly log: Logger,
    private readonly recover: (err: unknown, topics: string[]) => Promise<Set<string>> = async () => new Set(),
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  publish(topic: string, value: string, key: string | undefined, headers: IHeaders): Promise<void> {
    if (this.closed) return Promise.reject(new PcmError('PCM_ERR_NOT_READY', 'relay: bus is closed'));
    if (this.queue.length >= this.opts.maxQueued) {
      this.refused++;
      return Promise.reject(
        new PcmError('PCM_ERR_RELAY_UNAVAILABLE', `relay: ${this.queue.length} events already wait for Kafka; event refused`, {
          details: { queued: this.queue.length },
        }),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ topic, message: { key: key ?? null, value, headers }, deadline: Date.now() + this.opts.publishTimeoutMs, resolve, reject });
      if (!this.running) {
        this.running = true;
        this.idle = this.loop();
      }
    });
  }

  /** Stops accepting; waits up to `graceMs` for queued events, then rejects the rest. */
  async close(graceMs: number): Promise<void> {
    this.closed = true;
    this.stopping.abort();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.idle, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    const left = this.queue.splice(0);
    for (const p of left) p.reject(new PcmError('PCM_ERR_RELAY_UNAVAILABLE', 'relay: closed before the event was published'));
  }

  private async loop(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        this.expire();
        if (this.queue.length === 0) break;
        const batch = this.queue.slice(0, this.opts.maxBatch);
        try {
          this.requests++;
          await this.producer().sendBatch({ topicMessages: group(batch), acks: this.opts.acks, timeout: this.opts.ackTimeoutMs });
          this.queue.splice(0, batch.length);
          this.backoff.reset();
          for (const p of batch) p.resolve();
        } catch (err) {
          this.errors++;
          if (this.closed) break;
          const gone = await this.recover(err, [...new Set(batch.map((p) => p.topic))]).catch(() => new Set<string>());
          if (gone.size > 0) this.dropTopics(gone);
          const wait = this.backoff.next();
          this.log.warn({ err, queued: this.queue.length, retryInMs: wait }, 'relay: Kafka publish failed; retrying the queued events in order');
          await sleep(wait, this.stopping.signal).catch(() => {});
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** Drops queued events for topics that do not exist: their gateway is gone (not an error, invariant 2.7). */
  private dropTopics(gone: Set<string>): void {
    const keep: Pending[] = [];
    for (const p of this.queue) {
      if (gone.has(p.topic)) {
        this.droppedMissingTopic++;
        p.resolve();
      } else keep.push(p);
    }
    this.queue = keep;
  }

  /** Rejects queued events whose deadline passed (from the head: they are the oldest). */
  private expire(): void {
    const now = Date.now();
    let n = 0;
    while (n < this.queue.length && this.queue[n]!.deadline <= now) n++;
    if (n === 0) return;
    const dead = this.queue.splice(0, n);
    this.expired += n;
    this.log.warn({ dropped: n }, 'relay: events not published within publishTimeoutMs were dropped (the store still has the messages)');
    for (const p of dead) {
      p.reject(new PcmError('PCM_ERR_RELAY_UNAVAILABLE', `relay: Kafka did not accept the event within ${this.opts.publishTimeoutMs} ms`));
    }
  }
}

/** Groups by topic keeping each topic's records in queue order. */
function group(batch: Pending[]): Array<{ topic: string; messages: Message[] }> {
  const byTopic = new Map<string, Message[]>();
  for (const p of batch) {
    let list = byTopic.get(p.topic);
    if (!list) byTopic.set(p.topic, (list = []));
    list.push(p.message);
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}
