import { Type, type Static } from 'typebox';
import { loadConfig, type LoadOptions } from '../common/config.js';
import { couchbaseConfigProperties } from './adapters/couchbase/couchbase-config.js';
import { GATEWAY_ID_PATTERN } from '../protocol/gateway-id.js';

const LogLevel = Type.Union(
  ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
  { default: 'info', description: 'pino log level.' },
);

/**
 * The gateway process's configuration (DESIGN.md section 7: one TypeBox schema per process,
 * validated and frozen at start, type derived from the schema). Every key is settable as
 * `PCM_<NAME>` (or `PCM_<NAME>_FILE`) and as `--<name>`; common/config.ts reads them.
 */
export const GatewayConfigSchema = Type.Object({
  httpPort: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: 'HTTP port: sender API, WebSocket `/v1/connect`, MQTT over WebSocket `/mqtt`, health and metrics.' }),
  mqttPort: Type.Integer({ minimum: 0, maximum: 65535, default: 1883, description: 'MQTT 3.1.1 TCP port.' }),
  host: Type.String({ default: '0.0.0.0', description: 'Address the HTTP and MQTT servers bind (`pcm dev` uses 127.0.0.1).' }),
  dataDir: Type.String({ default: './data', description: 'Directory for the SQLite store and the generated dev secrets.' }),
  terminalJwtSecret: Type.String({ minLength: 16, description: 'HS256 secret for terminal JWTs (at least 16 characters). Required (`pcm dev` generates one). Key rotation: `new,old` (comma-separated) signs with the first and verifies with any (docs/security.md).' }),
  apiKeys: Type.Array(Type.String({ minLength: 8 }), { minItems: 1, description: 'Sender API keys, comma-separated. Required (`pcm dev` generates one).' }),
  adminKeys: Type.Array(Type.String({ minLength: 8 }), { default: [], description: 'Mission Control admin keys (`/mission-control`, `/v1/admin/*`), comma-separated; `sha256:<hex>` accepted. Empty: every admin call is refused (docs/mission-control.md).' }),
  timeline: Type.Union([Type.Literal('memory'), Type.Literal('sqlite')], { default: 'memory', description: 'Per-terminal timeline store: `memory`, or `sqlite` (`timeline.sqlite` in the data dir; docs/observability.md).' }),
  timelineMaxEvents: Type.Integer({ minimum: 1, maximum: 10_000, default: 200, description: 'Recent timeline events kept per terminal.' }),
  timelineTtlSeconds: Type.Integer({ minimum: 1, maximum: 2_419_200, default: 86_400, description: 'Timeline events older than this are dropped.' }),
  gatewayId: Type.String({ minLength: 1, maxLength: 63, pattern: GATEWAY_ID_PATTERN, default: 'gw-0', description: 'This gateway\'s id in the session directory, relay and discovery.' }),
  store: Type.Union([Type.Literal('memory'), Type.Literal('sqlite'), Type.Literal('couchbase')], { default: 'sqlite', description: 'Message store: `sqlite` (file in the data dir), `memory` (not durable), `couchbase`.' }),
  relay: Type.Union([Type.Literal('inprocess'), Type.Literal('kafka')], { default: 'inprocess', description: 'Relay bus between gateways.' }),
  maxSessions: Type.Integer({ minimum: 1, default: 100_000, description: 'Local session cap; beyond it the least recently used terminal gets a `drain` frame.' }),
  maxPayloadBytes: Type.Integer({ minimum: 1, maximum: 16 * 1024 * 1024, default: 65_536, description: 'Largest message payload (JSON-encoded bytes); larger sends get 413.' }),
  maxTtlSeconds: Type.Integer({ minimum: 0, maximum: 2_419_200, default: 2_419_200, description: 'Largest `ttlSeconds` a sender may ask for (28 days).' }),
  maxPendingPerTerminal: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 10_000, description: 'Most pending (unacked, unexpired) messages one terminal may hold: further sends and requests to it get 429 `PCM_ERR_QUEUE_FULL` and nothing is stored, so one terminal that never returns cannot fill the store (docs/sender-api.md). 0 = no limit.' }),
  defaultTtlSeconds: Type.Integer({ minimum: 0, maximum: 2_419_200, default: 86_400, description: '`ttlSeconds` when a send does not give one.' }),
  heartbeatSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 30, description: 'WebSocket ping interval; a connection missing two pongs is closed. Also the presence refresh period.' }),
  rateLimitPerMinute: Type.Integer({ minimum: 1, default: 6000, description: 'Sender API requests per minute per API key (429 beyond).' }),
  requestTimeoutMs: Type.Integer({ minimum: 1, maximum: 60_000, default: 10_000, description: 'Default wait of `POST /requests` when the body gives no `timeoutMs`.' }),
  deliveryWindow: Type.Integer({ minimum: 1, maximum: 10_000, default: 64, description: 'Unacked messages in flight per terminal.' }),
  drainReconnectAfterMs: Type.Integer({ minimum: 0, default: 2000, description: '`reconnectAfterMs` sent in `drain` frames (eviction, shutdown).' }),
  resyncSeconds: Type.Number({ minimum: 0, maximum: 3600, default: 5, description: 'Resync period: every connected terminal is checked against the store (one counter read) at least this often, so a lost relay event delays a message by at most this long. 0 turns the sweep off.' }),
  assignmentsFile: Type.String({ default: '', description: 'The operator\'s assignments document (ConfigMap `gateways.json`, mounted): the gateway reads its own `draining` flag from it (docs/operator.md). Empty: not watched.' }),
  gatewaysConfigMap: Type.String({ default: '', description: 'Instead of a mounted file: watch this ConfigMap (key `gateways.json`) through the Kubernetes API for the draining flag (needs RBAC get/list/watch on configmaps).' }),
  kubeNamespace: Type.String({ default: 'default', description: 'Namespace of `gatewaysConfigMap`.' }),
  drainSeconds: Type.Integer({ minimum: 0, maximum: 86_400, default: 120, description: 'Drain window: once marked draining, terminals are told to reconnect at moments spread over the first 80 % of this window.' }),
  drainRate: Type.Number({ minimum: 0.1, maximum: 100_000, default: 200, description: 'Drain frames sent per second at most while draining.' }),
  maxConnectsPerSecond: Type.Number({ minimum: 0, maximum: 1_000_000, default: 2000, description: 'Admission control: terminal connections (WebSocket and MQTT together) accepted per second, burst of one second; excess WebSocket upgrades get 503 + Retry-After, MQTT CONNACK 3. 0 = unlimited.' }),
  clockOffsetMs: Type.Integer({
    minimum: -3_600_000,
    maximum: 3_600_000,
    default: 0,
    description:
      'Fault testing only: shifts this gateway\'s clock (message stamps, TTL checks, presence expiry) by this many ms to simulate clock skew between gateways (test/integration/faults/clock-skew.test.ts). Keep 0 in production; the gateway logs a warning otherwise. Within +/- 1 h.',
  }),
  flapMaxConnects: Type.Integer({ minimum: 0, maximum: 10_000, default: 10, description: 'Flapping detection: authenticated connects one terminal id may make per `flapWindowSeconds`; the next is refused (WebSocket 503 `PCM_ERR_FLAPPING` + Retry-After, MQTT CONNACK 3) for a penalty. Reconnects the gateway asked for (drain, shutdown, its own store failure) do not count. 0 = off.' }),
  flapWindowSeconds: Type.Number({ minimum: 1, maximum: 86_400, default: 60, description: 'Flapping detection: the sliding window `flapMaxConnects` is counted in.' }),
  flapPenaltySeconds: Type.Number({ minimum: 0.1, maximum: 86_400, default: 10, description: 'Flapping detection: the first penalty; it doubles each time the terminal is caught again, until a quiet window.' }),
  flapMaxPenaltySeconds: Type.Number({ minimum: 0.1, maximum: 86_400, default: 300, description: 'Flapping detection: the longest penalty (retry hint).' }),
  sqliteSynchronous: Type.Union([Type.Literal('FULL'), Type.Literal('NORMAL')], { default: 'FULL', description: 'SQLite durability: FULL survives power loss, NORMAL survives a process kill (faster).' }),
  sqliteWriter: Type.Union([Type.Literal('auto'), Type.Literal('inline'), Type.Literal('thread')], {
    default: 'auto',
    description:
      'Where SQLite group commits run: `inline` on the event loop (no thread hand-off; the fsync blocks the loop), `thread` in a writer thread (the fsync never blocks the loop), `auto` = inline when the data dir\'s fdatasync takes at most 0.25 ms at start, else thread (docs/storage.md).',
  }),
  ...couchbaseConfigProperties,
  kafkaBrokers: Type.Array(Type.String(), { default: [], description: 'Kafka brokers `host:port`, comma-separated (required when PCM_RELAY=kafka).' }),
  kafkaTopicPrefix: Type.String({ default: 'pcm', description: 'Kafka topic prefix.' }),
  logLevel: LogLevel,
  // Security and hostile-input limits (issue 8, docs/security.md).
  tlsCertFile: Type.String({ default: '', description: 'PEM certificate (chain) file: with `tlsKeyFile`, the HTTP port serves HTTPS/wss and MQTT over TLS listens on `mqttTlsPort`.' }),
  tlsKeyFile: Type.String({ default: '', description: 'PEM private key file for `tlsCertFile`.' }),
  tlsCaFile: Type.String({ default: '', description: 'Optional PEM bundle of intermediate certificates sent with `tlsCertFile`.' }),
  mqttTlsPort: Type.Integer({ minimum: 0, maximum: 65535, default: 8883, description: 'MQTT over TLS (mqtts) port, used when TLS is configured.' }),
  httpHeadersTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 10_000, description: 'An HTTP request (or WebSocket upgrade) whose headers take longer is closed with 408 (slowloris).' }),
  httpRequestTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 30_000, description: 'An HTTP request whose headers and body take longer to arrive is closed with 408.' }),
  httpKeepAliveTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 72_000, description: 'Idle keep-alive HTTP connections are closed after this long.' }),
});

export type GatewayConfig = Static<typeof GatewayConfigSchema>;

export function loadGatewayConfig(opts: LoadOptions = {}): Readonly<GatewayConfig> {
  return loadConfig(GatewayConfigSchema, opts);
}
