import { Kafka, Partitioners, type Admin, type Consumer, type EachMessagePayload, type Producer } from 'kafkajs';
import { Backoff, sleep } from '../../../common/backoff.js';
import { PcmError, toPcmError } from '../../../common/errors.js';
import { createLogger, type Logger } from '../../../common/logger.js';
import type { RelayBus, RelayBusStats, RelayEvent, RelayHandler } from '../../ports/relay-bus.js';
import { decodeRelayEvent, encodeRelayEvent } from './event-codec.js';
import { kafkaLogCreator, kafkaLogLevel } from './kafka-logger.js';
import { Publisher } from './publisher.js';
import { checkGatewayId, relayTopics, type RelayTopics } from './topics.js';

export interface KafkaRelayOptions {
  /** host:port list, e.g. ["127.0.0.1:9092"]. */
  brokers: string[];
  /** Topic and consumer-group prefix; one prefix per PCM cluster sharing the Kafka cluster. */
  topicPrefix?: string;
  clientId?: string;
  /** Partitions of each topic; records are keyed by terminal id, so order per terminal holds for any count. */
  partitions?: number;
  /** -1 = the broker's default.replication.factor. */
  replicationFactor?: number;
  /** retention.ms of relay topics: relay events are only useful for seconds (invariant 2.7). */
  retentionMs?: number;
  acks?: -1 | 1;
  publishTimeoutMs?: number;
  maxQueued?: number;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** How long start() waits for topics, the group join and the first fetch. */
  startTimeoutMs?: number;
  logger?: Logger;
}

const DEFAULTS = {
  topicPrefix: 'pcm',
  partitions: 1,
  replicationFactor: -1,
  retentionMs: 3_600_000,
  acks: -1 as -1 | 1,
  publishTimeoutMs: 60_000,
  maxQueued: 50_000,
  sessionTimeoutMs: 10_000,
  heartbeatIntervalMs: 1_000,
  startTimeoutMs: 60_000,
};

/** Minimum spacing of topic-list refreshes when a send names a topic not seen yet. */
const TOPIC_REFRESH_MS = 1_000;
const SENDER_HEADER = 'pcm-sender';

export interface KafkaRelayStats extends RelayBusStats {
  droppedUnknownTarget: number;
  /** Own broadcasts read back from the broadcast topic and skipped (records fetched, not handled). */
  skippedOwnBroadcast: number;
  decodeErrors: number;
  consumerCrashes: number;
  consumerRebuilds: number;
  /** Group joins that did not assign this gateway all its partitions (duplicate gateway id). */
  assignmentWarnings: number;
  publishRequests: number;
  publishErrors: number;
  publishExpired: number;
  queued: number;
}

/**
 * Kafka RelayBus (DESIGN.md section 3; design and alternatives in docs/relay.md).
 * Addressed events go to the target gateway's own topic, so a message costs one record
 * consumed by one gateway whatever the fleet size; broadcasts go to one shared topic that
 * every gateway reads with its own consumer group.
 */
export class KafkaRelayBus implements RelayBus {
  readonly kind = 'kafka';
  private readonly opts: typeof DEFAULTS & KafkaRelayOptions;
  private readonly topics: RelayTopics;
  private log: Logger;
  private kafka: Kafka | undefined;
  private admin: Admin | undefined;
  private producer: Producer | undefined;
  private consumer: Consumer | undefined;
  private publisher: Publisher | undefined;
  private gatewayId: string | undefined;
  private handler: RelayHandler | undefined;
  private ownTopic = '';
  private started = false;
  private starting = false;
  private closed = false;
  private rebuilding: Promise<void> | undefined;
  /** Aborted by close(): ends start/rebuild waits and backoffs at once. */
  private readonly stopping = new AbortController();
  private readonly known = new Set<string>();
  private topicsFetchedAt = 0;
  private topicsRefresh: Promise<void> | undefined;
  private readonly counters = {
    consumed: 0,
    consumedAddressed: 0,
    consumedBroadcast: 0,
    sent: 0,
    broadcast: 0,
    errors: 0,
    droppedUnknownTarget: 0,
    skippedOwnBroadcast: 0,
    decodeErrors: 0,
    consumerCrashes: 0,
    consumerRebuilds: 0,
    assignmentWarnings: 0,
  };

  constructor(options: KafkaRelayOptions) {
    if (!options.brokers?.length) throw new PcmError('PCM_ERR_CONFIG', 'relay: Kafka brokers must be set (PCM_KAFKA_BROKERS)', { details: { field: 'kafkaBrokers' } });
    this.opts = { ...DEFAULTS, ...stripUndefined(options), brokers: options.brokers };
    this.topics = relayTopics(this.opts.topicPrefix);
    this.log = (options.logger ?? createLogger('gateway', 'info')).child({ relay: 'kafka' });
  }

  async start(gatewayId: string, handler: RelayHandler): Promise<void> {
    if (this.closed) throw new PcmError('PCM_ERR_NOT_READY', 'relay: this bus was closed; create a new one');
    if (this.started || this.starting) throw new PcmError('PCM_ERR_CONFIG', `relay: bus already started as gateway "${this.gatewayId}"`);
    checkGatewayId(gatewayId);
    this.starting = true;
    this.gatewayId = gatewayId;
    this.handler = handler;
    this.ownTopic = this.topics.gateway(gatewayId);
    if (this.log.bindings().gatewayId !== gatewayId) this.log = this.log.child({ gatewayId });
    const deadline = Date.now() + this.opts.startTimeoutMs;
    this.kafka = new Kafka({
      clientId: this.opts.clientId ?? `pcm-${gatewayId}`,
      brokers: this.opts.brokers,
      logLevel: kafkaLogLevel(this.log),
      logCreator: kafkaLogCreator(this.log),
      connectionTimeout: 3_000,
      // Short client-level retries: the publisher and the consumer supervisor retry on top.
      retry: { initialRetryTime: 200, maxRetryTime: 2_000, retries: 5 },
    });
    try {
      this.admin = this.kafka.admin();
      await untilDeadline(deadline, 'connecting the Kafka admin client', () => this.admin!.connect(), this.stopping.signal);
      await untilDeadline(deadline, 'creating the relay topics', () => this.ensureTopics(), this.stopping.signal);
      this.producer = this.newProducer();
      await untilDeadline(deadline, 'connecting the Kafka producer', () => this.producer!.connect(), this.stopping.signal);
      this.publisher = new Publisher(
        () => this.producer!,
        { acks: this.opts.acks, publishTimeoutMs: this.opts.publishTimeoutMs, maxQueued: this.opts.maxQueued, maxBatch: 500, ackTimeoutMs: 10_000 },
        this.log,
        (err, topics) => this.recoverPublish(err, topics),
      );
      await this.startConsumer(deadline);
      this.started = true;
    } catch (err) {
      await this.shutdown();
      this.closed = true;
      throw isPcmErrorLike(err) ? err : new PcmError('PCM_ERR_RELAY_UNAVAILABLE', `relay: Kafka start failed: ${(err as Error).message}`, { cause: err });
    } finally {
      this.starting = false;
    }
    this.log.info({ topic: this.ownTopic, broadcast: this.topics.broadcast, group: this.topics.group(gatewayId) }, 'relay: Kafka relay started');
  }

  async send(toGatewayId: string, event: RelayEvent): Promise<void> {
    this.checkStarted();
    this.counters.sent++;
    let topic: string;
    try {
      topic = this.topics.gateway(toGatewayId);
    } catch {
      this.counters.droppedUnknownTarget++;
      return; // not a legal gateway id: no such gateway can exist
    }
    if (!(await this.topicExists(topic))) {
      // The target never started (its topic is created at its start): accelerator semantics,
      // the store still has the message (invariant 2.7). Never produce to a missing topic:
      // kafkajs would keep it in its metadata targets and fail every later request.
      this.counters.droppedUnknownTarget++;
      this.log.debug({ toGatewayId, kind: event.kind }, 'relay: no topic for this gateway; event dropped');
      return;
    }
    await this.publisher!.publish(topic, encodeRelayEvent(event), partitionKey(event), { [SENDER_HEADER]: this.gatewayId! });
  }

  async broadcast(event: RelayEvent): Promise<void> {
    this.checkStarted();
    this.counters.broadcast++;
    await this.publisher!.publish(this.topics.broadcast, encodeRelayEvent(event), partitionKey(event), { [SENDER_HEADER]: this.gatewayId! });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopping.abort();
    await this.shutdown();
    this.log.info('relay: Kafka relay closed');
  }

  stats(): KafkaRelayStats {
    const p = this.publisher;
    return {
      ...this.counters,
      errors: this.counters.errors + (p ? p.expired + p.refused : 0),
      publishRequests: p?.requests ?? 0,
      publishErrors: p?.errors ?? 0,
      publishExpired: p?.expired ?? 0,
      queued: p?.queued ?? 0,
    };
  }

  // ---- consumer -------------------------------------------------------------------------

  /** Creates, subscribes and runs a consumer; resolves once it joined and fetched from every leader. */
  private async startConsumer(deadline: number): Promise<void> {
    const consumer = this.kafka!.consumer({
      groupId: this.topics.group(this.gatewayId!),
      sessionTimeout: this.opts.sessionTimeoutMs,
      rebalanceTimeout: this.opts.sessionTimeoutMs,
      heartbeatInterval: this.opts.heartbeatIntervalMs,
      // Long-poll bound: the broker answers as soon as a record arrives, so this is not a
      // latency; it bounds how long close() and heartbeats wait on an idle fetch.
      maxWaitTimeInMs: 500,
      allowAutoTopicCreation: false,
      retry: {
        initialRetryTime: 300,
        maxRetryTime: 5_000,
        // About 10 s of retries before a crash: kafkajs restarts (or the bus rebuilds) from there.
        retries: 5,
        // kafkajs counts a missing topic as retriable and would restart forever; only a
        // rebuild (which re-creates the topics) recovers from it, see onCrash.
        restartOnFailure: async (err: Error) => !hasErrorType(err, 'UNKNOWN_TOPIC_OR_PARTITION'),
      },
    });
    this.consumer = consumer;
    // A topic another gateway created a moment ago may not have its leader yet: retry.
    const leaders = await untilDeadline(deadline, 'reading the relay topics\' leaders', () => this.leaderNodes(), this.stopping.signal);
    let joined = false;
    const fetchedFrom = new Set<number>();
    let readyResolve!: () => void;
    const ready = new Promise<void>((r) => (readyResolve = r));
    const offJoin = consumer.on(consumer.events.GROUP_JOIN, () => {
      joined = true;
      fetchedFrom.clear();
    });
    // Offsets of a new group ("latest") are resolved right before its first fetch: once a
    // fetch from every leader returned, any event published after start() is seen.
    const offFetch = consumer.on(consumer.events.FETCH, (e) => {
      if (!joined) return;
      fetchedFrom.add(Number((e.payload as { nodeId: number | string }).nodeId));
      if ([...leaders].every((n) => fetchedFrom.has(n))) readyResolve();
    });
    consumer.on(consumer.events.CRASH, (e) => this.onCrash(consumer, e.payload.error, e.payload.restart));
    consumer.on(consumer.events.GROUP_JOIN, (e) => this.checkAssignment(e.payload.memberAssignment));
    consumer.on(consumer.events.REBALANCING, () => this.log.info('relay: consumer group rebalancing'));
    await consumer.connect();
    await consumer.subscribe({ topics: [this.ownTopic, this.topics.broadcast], fromBeginning: false });
    await consumer.run({ eachMessage: (p) => this.onMessage(p) });
    const left = deadline - Date.now();
    const ok = await readyWithin(ready, Math.max(0, left), this.stopping.signal);
    offJoin();
    offFetch();
    if (!ok) throw new PcmError('PCM_ERR_RELAY_UNAVAILABLE', `relay: the Kafka consumer did not join group ${this.topics.group(this.gatewayId!)} in time`);
  }

  /**
   * A gateway is the only member of its group, so it is assigned every partition of both
   * topics. Anything less means another process joined as the same gateway (duplicate
   * PCM_GATEWAY_ID): the partitions are split and each process misses part of its events.
   */
  private checkAssignment(assignment: Record<string, number[]>): void {
    const missing = [this.ownTopic, this.topics.broadcast].filter((t) => !(assignment[t]?.length));
    if (missing.length === 0) return;
    this.counters.assignmentWarnings++;
    this.log.error(
      { missing, assignment, group: this.topics.group(this.gatewayId!) },
      'relay: this gateway was not assigned all of its relay partitions: another process runs with the same gateway id?',
    );
  }

  private async onMessage({ topic, message }: EachMessagePayload): Promise<void> {
    if (this.closed) return;
    const broadcast = topic === this.topics.broadcast;
    if (broadcast && message.headers?.[SENDER_HEADER]?.toString() === this.gatewayId) {
      this.counters.skippedOwnBroadcast++; // fetched from Kafka all the same: the bench counts it
      return;
    }
    let event: RelayEvent;
    try {
      event = decodeRelayEvent(message.value);
    } catch (err) {
      this.counters.decodeErrors++;
      this.log.warn({ err, topic, offset: message.offset }, 'relay: undecodable record skipped');
      return;
    }
    this.counters.consumed++;
    if (broadcast) this.counters.consumedBroadcast++;
    else this.counters.consumedAddressed++;
    try {
      this.handler!(event);
    } catch (err) {
      this.counters.errors++;
      this.log.error({ err, kind: event.kind, from: event.from }, 'relay handler threw; event dropped (the store still has the message)');
    }
  }

  /**
   * kafkajs restarts its consumer by itself after retriable failures (broker restart,
   * coordinator moves). A non-retriable crash (e.g. a relay topic deleted under us) stops it
   * for good, so the bus rebuilds it: re-create the topics, new consumer, with backoff.
   */
  private onCrash(consumer: Consumer, error: Error, restart: boolean): void {
    this.counters.consumerCrashes++;
    this.log.warn({ err: error, restart }, restart ? 'relay: Kafka consumer crashed; kafkajs restarts it' : 'relay: Kafka consumer stopped; rebuilding it');
    if (restart || this.closed || this.rebuilding || consumer !== this.consumer) return;
    this.rebuilding = this.rebuildConsumer(consumer).finally(() => (this.rebuilding = undefined));
  }

  private async rebuildConsumer(old: Consumer): Promise<void> {
    const backoff = new Backoff({ baseMs: 500, capMs: 10_000 });
    await old.disconnect().catch(() => {});
    while (!this.closed) {
      try {
        await this.ensureTopics();
        await this.startConsumer(Date.now() + this.opts.startTimeoutMs);
        this.counters.consumerRebuilds++;
        this.log.info('relay: Kafka consumer rebuilt');
        return;
      } catch (err) {
        await this.consumer?.disconnect().catch(() => {});
        const wait = backoff.next();
        this.log.warn({ err, retryInMs: wait }, 'relay: Kafka consumer rebuild failed; retrying');
        await sleep(wait, this.stopping.signal).catch(() => {});
      }
    }
  }

  // ---- topics and producer --------------------------------------------------------------

  /** Idempotent: "already exists" is success (another gateway or an earlier start created it). */
  private async ensureTopics(): Promise<void> {
    // Listing first keeps a normal start quiet: kafkajs logs "already exists" answers as errors.
    const existing = new Set(await this.admin!.listTopics());
    const missing = [this.ownTopic, this.topics.broadcast].filter((t) => !existing.has(t));
    if (missing.length === 0) {
      this.known.add(this.ownTopic);
      this.known.add(this.topics.broadcast);
      return;
    }
    await this.admin!.createTopics({
      waitForLeaders: true,
      topics: missing.map((topic) => ({
        topic,
        numPartitions: this.opts.partitions,
        replicationFactor: this.opts.replicationFactor,
        configEntries: [{ name: 'retention.ms', value: String(this.opts.retentionMs) }],
      })),
    });
    this.known.add(this.ownTopic);
    this.known.add(this.topics.broadcast);
  }

  private async leaderNodes(): Promise<Set<number>> {
    const meta = await this.admin!.fetchTopicMetadata({ topics: [this.ownTopic, this.topics.broadcast] });
    return new Set(meta.topics.flatMap((t) => t.partitions.map((p) => p.leader)));
  }

  private newProducer(): Producer {
    return this.kafka!.producer({
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { initialRetryTime: 100, maxRetryTime: 1_000, retries: 3 },
    });
  }

  /** Positive answers are cached for good; a miss refreshes the topic list (at most once per TOPIC_REFRESH_MS). */
  private async topicExists(topic: string): Promise<boolean> {
    if (this.known.has(topic)) return true;
    await this.refreshTopics();
    return this.known.has(topic);
  }

  private refreshTopics(): Promise<void> {
    this.topicsRefresh ??= (async () => {
      try {
        const wait = this.topicsFetchedAt + TOPIC_REFRESH_MS - Date.now();
        if (wait > 0) await sleep(wait, this.stopping.signal);
        const names = await this.admin!.listTopics();
        this.known.clear();
        for (const n of names) this.known.add(n);
        this.topicsFetchedAt = Date.now();
      } catch (err) {
        throw new PcmError('PCM_ERR_RELAY_UNAVAILABLE', `relay: cannot list Kafka topics: ${(err as Error).message}`, { cause: err });
      } finally {
        this.topicsRefresh = undefined;
      }
    })();
    return this.topicsRefresh;
  }

  /**
   * After a failed produce: if a topic of the batch vanished (its gateway's topic was deleted),
   * its events are dropped and the producer replaced, since kafkajs keeps a missing topic in its
   * metadata targets and would fail every later request.
   */
  private async recoverPublish(err: unknown, topics: string[]): Promise<Set<string>> {
    if (!hasErrorType(err, 'UNKNOWN_TOPIC_OR_PARTITION')) return new Set();
    this.topicsFetchedAt = 0;
    await this.refreshTopics();
    const gone = new Set(topics.filter((t) => !this.known.has(t)));
    const old = this.producer!;
    this.producer = this.newProducer();
    await old.disconnect().catch(() => {});
    await this.producer.connect();
    this.log.warn({ gone: [...gone] }, 'relay: producer replaced after an unknown-topic error');
    return gone;
  }

  private checkStarted(): void {
    if (this.closed) throw new PcmError('PCM_ERR_NOT_READY', 'relay: bus is closed');
    if (!this.started) throw new PcmError('PCM_ERR_NOT_READY', 'relay: bus is not started (call start(gatewayId, handler) first)');
  }

  private async shutdown(): Promise<void> {
    await this.publisher?.close(2_000).catch(() => {});
    // disconnect() leaves the group at once (no session-timeout wait for the next owner of this id).
    await this.consumer?.disconnect().catch((err) => this.log.warn({ err }, 'relay: consumer disconnect failed'));
    await this.producer?.disconnect().catch(() => {});
    await this.admin?.disconnect().catch(() => {});
    await this.rebuilding?.catch(() => {});
    await this.consumer?.disconnect().catch(() => {});
  }
}

/** Records of one terminal share a key, so its order holds even with several partitions. */
function partitionKey(event: RelayEvent): string {
  return event.kind === 'deliver' ? event.message.terminalId : event.terminalId;
}

function hasErrorType(err: unknown, type: string): boolean {
  for (let e = err as { type?: string; cause?: unknown } | undefined, i = 0; e && i < 10; e = e.cause as typeof e, i++) {
    if (e.type === type) return true;
  }
  return false;
}

/** True once `ready` resolved; false after `ms` or when `signal` aborts. Leaves no timer behind. */
function readyWithin(ready: Promise<void>, ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (v: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(v);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(false), ms);
    signal.addEventListener('abort', onAbort, { once: true });
    void ready.then(() => done(true));
  });
}

function isPcmErrorLike(err: unknown): err is PcmError {
  return err instanceof PcmError;
}

async function untilDeadline<T>(deadline: number, what: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const backoff = new Backoff({ baseMs: 200, capMs: 2_000 });
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      const wait = backoff.next();
      if (Date.now() + wait >= deadline || signal?.aborted) {
        throw new PcmError('PCM_ERR_RELAY_UNAVAILABLE', `relay: ${what} failed: ${toPcmError(err).message}`, { cause: err });
      }
      await sleep(wait, signal).catch(() => {});
    }
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function createKafkaRelayBus(options: KafkaRelayOptions): KafkaRelayBus {
  return new KafkaRelayBus(options);
}
