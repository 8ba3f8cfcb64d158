import path from 'node:path';
import { offsetClock, type Clock } from '../common/clock.js';
import { PcmError } from '../common/errors.js';
import { createLogger, type Logger } from '../common/logger.js';
import { buildGateway, type Gateway } from './app.js';
import { tlsFromConfig } from './security/tls.js';
import type { GatewayConfig } from './config.js';
import type { MessageStore } from './ports/message-store.js';
import type { RelayBus } from './ports/relay-bus.js';
import type { SessionDirectory } from './ports/session-directory.js';
import type { GatewaySource } from '../discovery/sources/source.js';

/**
 * Wiring only (DESIGN.md section 7, "main.ts wires"): config -> adapters -> app -> listen.
 * Adapters are imported lazily so `pcm dev` never loads couchbase or kafkajs.
 */
export interface Ports {
  store: MessageStore;
  directory: SessionDirectory;
  relay: RelayBus;
}

/** The gateway's clock: the system clock, shifted by `clockOffsetMs` (fault testing only). */
export function gatewayClock(config: Pick<GatewayConfig, 'clockOffsetMs'>): Clock {
  return offsetClock(config.clockOffsetMs ?? 0);
}

export async function createPorts(config: Readonly<GatewayConfig>, logger: Logger, clock: Clock = gatewayClock(config)): Promise<Ports> {
  let store: MessageStore;
  let directory: SessionDirectory;
  switch (config.store) {
    case 'memory': {
      const { MemoryMessageStore } = await import('./adapters/memory/memory-store.js');
      const { MemorySessionDirectory } = await import('./adapters/memory/memory-directory.js');
      store = new MemoryMessageStore();
      directory = new MemorySessionDirectory(clock);
      logger.warn('PCM_STORE=memory: messages are lost when this process stops (not durable; for tests only)');
      break;
    }
    case 'sqlite': {
      const { SqliteMessageStore } = await import('./adapters/sqlite/sqlite-store.js');
      const { SqliteSessionDirectory } = await import('./adapters/sqlite/sqlite-directory.js');
      const { chooseSqliteWriter } = await import('./adapters/sqlite/sqlite-writer-choice.js');
      const writer = chooseSqliteWriter(config.sqliteWriter, config.dataDir);
      logger.info({ sqliteWriter: writer.writer, fsyncMs: writer.fsyncMs }, `SQLite writer: ${writer.writer} (${writer.reason})`);
      store = new SqliteMessageStore({
        file: path.join(config.dataDir, 'messages.db'),
        synchronous: config.sqliteSynchronous,
        clock,
        writerThread: writer.writer === 'thread',
        // auto only: an explicit PCM_SQLITE_WRITER=inline stays inline whatever the disk does
        ...(config.sqliteWriter === 'auto' && {
          inlineFallback: {
            onSwitch: ({ asleepShare, commits, meanAsleepMs }) =>
              logger.warn(
                { sqliteWriter: 'thread', asleepShare: Math.round(asleepShare * 100) / 100, commits, meanAsleepMs: Math.round(meanAsleepMs * 100) / 100 },
                `SQLite writer: thread from now on (inline commits kept the event loop waiting for the disk or another process's lock ${Math.round(asleepShare * 100)} % of the time, ${meanAsleepMs.toFixed(2)} ms per commit; PCM_SQLITE_WRITER=thread makes it the start-up choice)`,
              ),
          },
        }),
      });
      directory = new SqliteSessionDirectory({ file: path.join(config.dataDir, 'presence.db'), synchronous: 'NORMAL' }, clock);
      break;
    }
    case 'couchbase': {
      const { connectCouchbaseStorage } = await import('./adapters/couchbase/couchbase-storage.js');
      const { couchbaseConfigFrom } = await import('./adapters/couchbase/couchbase-config.js');
      ({ store, directory } = await connectCouchbaseStorage(couchbaseConfigFrom(config), { clock }));
      break;
    }
  }
  let relay: RelayBus;
  if (config.relay === 'kafka') {
    if (config.kafkaBrokers.length === 0) {
      await Promise.all([store.close(), directory.close()]);
      throw new PcmError('PCM_ERR_CONFIG', 'invalid configuration: kafkaBrokers (PCM_KAFKA_BROKERS / --kafka-brokers) is required when relay is kafka', {
        details: { field: 'kafkaBrokers', env: 'PCM_KAFKA_BROKERS' },
      });
    }
    const { createKafkaRelayBus } = await import('./adapters/kafka/kafka-relay.js');
    relay = createKafkaRelayBus({ brokers: [...config.kafkaBrokers], topicPrefix: config.kafkaTopicPrefix, clientId: `pcm-${config.gatewayId}`, logger: logger.child({ component: 'relay' }) });
  } else {
    const { createInProcessRelayBus } = await import('./adapters/inprocess/inprocess-relay.js');
    relay = createInProcessRelayBus({ logger: logger.child({ component: 'relay' }) });
  }
  return { store, directory, relay };
}

/**
 * The operator's assignments, for this gateway's own draining flag (issue 6): the discovery
 * sources are reused as they are (mounted ConfigMap file, or the ConfigMap through the API).
 */
async function createGatewaySource(config: Readonly<GatewayConfig>, logger: Logger): Promise<GatewaySource | undefined> {
  const log = logger.child({ component: 'assignments' });
  if (config.assignmentsFile) {
    const { FileGatewaySource } = await import('../discovery/sources/file.js');
    return new FileGatewaySource({ path: config.assignmentsFile, logger: log });
  }
  if (config.gatewaysConfigMap) {
    const { createKubeGatewaySource } = await import('../discovery/sources/kube.js');
    return createKubeGatewaySource({ namespace: config.kubeNamespace, configMapName: config.gatewaysConfigMap, key: 'gateways.json', logger: log });
  }
  return undefined;
}

export interface RunningGateway {
  gateway: Gateway;
  httpPort: number;
  mqttPort?: number;
  /** MQTT over TLS port, when TLS is configured. */
  mqttTlsPort?: number;
  /** Base URLs a local client can dial (0.0.0.0 is shown as 127.0.0.1). */
  httpUrl: string;
  websocketUrl: string;
  mqttUrl: string;
  /**
   * Where the SQLite store's commits run (PCM_SQLITE_WRITER, resolved at start; `auto` may
   * move inline commits to the thread later, see docs/storage.md); unset for other stores.
   */
  readonly sqliteWriter?: 'inline' | 'thread';
  close(): Promise<void>;
}

export async function startGateway(config: Readonly<GatewayConfig>, logger: Logger = createLogger('gateway', config.logLevel)): Promise<RunningGateway> {
  // TLS files are read (and checked) before any port is opened: a bad path fails the start.
  const tls = tlsFromConfig(config);
  const clock = gatewayClock(config);
  if (config.clockOffsetMs) {
    logger.warn({ clockOffsetMs: config.clockOffsetMs }, 'PCM_CLOCK_OFFSET_MS is set: this gateway\'s clock is shifted (clock-skew fault testing only)');
  }
  const ports = await createPorts(config, logger, clock);
  const gatewaySource = await createGatewaySource(config, logger);
  const gateway = await buildGateway({ config, ...ports, logger, defaultMetrics: true, tls, gatewaySource, clock });
  let bound;
  try {
    bound = await gateway.listen();
  } catch (err) {
    await gateway.close().catch(() => undefined);
    throw err;
  }
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const running: RunningGateway = {
    gateway,
    httpPort: bound.httpPort,
    mqttPort: bound.mqttPort,
    mqttTlsPort: bound.mqttTlsPort,
    httpUrl: `${tls ? 'https' : 'http'}://${host}:${bound.httpPort}`,
    websocketUrl: `${tls ? 'wss' : 'ws'}://${host}:${bound.httpPort}/v1/connect`,
    mqttUrl: tls && bound.mqttTlsPort !== undefined ? `mqtts://${host}:${bound.mqttTlsPort}` : `mqtt://${host}:${bound.mqttPort}`,
    close: () => gateway.close(),
  };
  const sqliteStore = ports.store as { writerKind?: 'inline' | 'thread' };
  if (sqliteStore.writerKind) Object.defineProperty(running, 'sqliteWriter', { get: () => sqliteStore.writerKind, enumerable: true });
  logger.info(
    { gatewayId: config.gatewayId, http: running.httpUrl, mqtt: running.mqttUrl, store: config.store, sqliteWriter: running.sqliteWriter, relay: config.relay, maxSessions: config.maxSessions },
    'gateway listening',
  );
  return running;
}

/**
 * SIGINT/SIGTERM: close once (drain frames to every terminal, then release everything) and
 * exit 0; a second signal, or a close that hangs past `graceMs`, exits 1 at once.
 */
export function closeOnSignals(close: () => Promise<void>, logger: Logger, graceMs = 15_000): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ graceMs }, 'shutdown took too long: exiting');
      process.exit(1);
    }, graceMs);
    timer.unref();
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
