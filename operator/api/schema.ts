import { Type, type Static, type TSchema } from 'typebox';

/**
 * PCMCluster v1alpha1: the ONE source of the TypeScript types and the CRD's OpenAPI v3
 * schema (DESIGN.md section 5, "PCMCluster"). `crd.ts` turns these TypeBox schemas into a
 * structural schema; `Static<>` gives the types the controller works with. Fields with a
 * `default` are required in the TypeScript type (the API server and `withDefaults` fill them)
 * and optional in the CRD (crd.ts drops them from `required`).
 *
 * Sub-objects carry `default: {}` so the API server also fills their nested defaults when
 * the user leaves the whole object out (apiextensions defaulting only descends into objects
 * that exist).
 */

const port = (def: number, description: string) => Type.Integer({ minimum: 1, maximum: 65535, default: def, description });

/** A Kubernetes resource quantity: `500m`, `256Mi` or a plain number. */
const Quantity = Type.Union([Type.Integer(), Type.String({ pattern: '^[+]?[0-9.]+([eE][-+]?[0-9]+|[numkKMGTPE]i?)?$' })], {
  'x-kubernetes-int-or-string': true,
});

export const ResourcesSchema = Type.Object(
  {
    requests: Type.Optional(Type.Record(Type.String(), Quantity)),
    limits: Type.Optional(Type.Record(Type.String(), Quantity)),
  },
  { description: 'Container resources of each gateway pod (requests and limits, Kubernetes quantities).' },
);

export const PROTOCOLS = ['websocket', 'mqtt'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/**
 * The public host of gateway N. `{ordinal}` (required, once) becomes the pod ordinal, so each
 * gateway has its own DNS name terminals dial after discovery; lower-case DNS characters only.
 */
export const HOST_TEMPLATE_PATTERN = '^([a-z0-9][-a-z0-9.]*)?\\{ordinal\\}([-a-z0-9.]*[a-z0-9])?$';

export const PublicEndpointSchema = Type.Object({
  hostTemplate: Type.String({
    minLength: 1,
    maxLength: 253,
    pattern: HOST_TEMPLATE_PATTERN,
    description: 'Public DNS name of gateway N, with `{ordinal}` standing for N, e.g. `gw-{ordinal}.pcm.example.com`.',
  }),
  tls: Type.Boolean({ default: true, description: 'Public URLs use wss:// and mqtts:// (TLS terminated in front of the pods).' }),
  websocketPort: port(443, 'Public WebSocket port (omitted from the URL when it is the scheme default).'),
  mqttPort: port(8883, 'Public MQTT port.'),
});

export const GatewaysSpecSchema = Type.Object({
  replicas: Type.Integer({ minimum: 0, maximum: 1000, default: 3, description: 'Number of gateway pods; ids are the StatefulSet pod names.' }),
  image: Type.String({ minLength: 1, description: 'Container image running `pcm`; gateways run `pcm gateway`.' }),
  imagePullPolicy: Type.Optional(Type.Enum(['Always', 'IfNotPresent', 'Never'])),
  resources: Type.Optional(ResourcesSchema),
  ports: Type.Object(
    {
      http: port(8080, 'Gateway HTTP port: WebSocket /v1/connect and the sender API.'),
      mqtt: port(1883, 'Gateway MQTT port.'),
    },
    { default: {} },
  ),
  public: PublicEndpointSchema,
  maxSessionsPerPod: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 15_000, description: 'Admission limit of terminal sessions per gateway pod.' }),
  drainSeconds: Type.Integer({
    minimum: 0,
    maximum: 86_400,
    default: 120,
    description: 'On scale-down, how long a gateway marked draining evacuates its terminals before its pod is removed.',
  }),
  unreadyGraceSeconds: Type.Integer({
    minimum: 0,
    maximum: 3_600,
    default: 30,
    description:
      'How long a gateway already in the assignments stays there while its pod is not Ready (a restart, a failed probe) before discovery sends its terminals elsewhere. A gateway that was never Ready is not assigned at all.',
  }),
  protocols: Type.Array(Type.Enum([...PROTOCOLS]), {
    minItems: 1,
    maxItems: 2,
    default: [...PROTOCOLS],
    'x-kubernetes-list-type': 'set',
    description: 'Terminal transports the gateways serve.',
  }),
});

export const DiscoverySpecSchema = Type.Object(
  {
    replicas: Type.Integer({ minimum: 0, maximum: 100, default: 2 }),
    pollSeconds: Type.Integer({ minimum: 5, maximum: 86_400, default: 300, description: 'pollAfterSeconds answered to terminals.' }),
    port: port(8080, 'Discovery HTTP port.'),
  },
  { default: {} },
);

export const KafkaSpecSchema = Type.Object({
  brokers: Type.Array(Type.String({ minLength: 1, pattern: '^[^\\s,]+:[0-9]{1,5}$' }), { minItems: 1, description: '`host:port` bootstrap brokers.' }),
  topicPrefix: Type.String({ default: 'pcm', maxLength: 200, pattern: '^[a-zA-Z0-9._-]*$', description: 'Prefix of the relay topics (the gateway\'s PCM_KAFKA_TOPIC_PREFIX).' }),
});

const SecretName = (description: string) => Type.String({ pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 253, description });

export const CouchbaseSpecSchema = Type.Object({
  connectionString: Type.String({ pattern: '^couchbases?://.+' }),
  bucket: Type.String({ minLength: 1, maxLength: 100 }),
  credentialsSecret: Type.Optional(SecretName('Secret in the same namespace with keys `username` and `password`.')),
  scope: Type.String({ default: '_default', minLength: 1, maxLength: 251, description: 'Scope inside the bucket (PCM_COUCHBASE_SCOPE).' }),
  collection: Type.String({ default: '_default', minLength: 1, maxLength: 251, description: 'Collection inside the scope (PCM_COUCHBASE_COLLECTION).' }),
  durability: Type.Union([Type.Literal('none'), Type.Literal('majority'), Type.Literal('majorityAndPersistActive'), Type.Literal('persistToMajority')], {
    default: 'none',
    description:
      'Synchronous durability of message and counter writes (PCM_COUCHBASE_DURABILITY). On a cluster with replicas set `majority` (or a persist level) so that a 202 survives a node failure; `none` needs no replicas (docs/storage.md).',
  }),
});

export const LimitsSpecSchema = Type.Object(
  {
    maxTtlSeconds: Type.Integer({ minimum: 0, maximum: 2_419_200, default: 2_419_200 }),
    maxPayloadBytes: Type.Integer({ minimum: 1, maximum: 16 * 1024 * 1024, default: 65_536 }),
    maxPendingPerTerminal: Type.Integer({
      minimum: 0,
      maximum: 10_000_000,
      default: 10_000,
      description: 'PCM_MAX_PENDING_PER_TERMINAL of every gateway: a terminal holding this many pending messages gets no more (429 PCM_ERR_QUEUE_FULL, nothing stored). 0 = no limit.',
    }),
  },
  { default: {} },
);

export const AuthSpecSchema = Type.Object({
  secretName: SecretName('Secret with `jwtSecret` (terminal JWT HS256 key, gateways and discovery) and `apiKeys` (sender API keys, comma-separated). Without `spec.auth` the operator uses `<cluster>-auth`.'),
});

export const PCMClusterSpecSchema = Type.Object({
  gateways: GatewaysSpecSchema,
  discovery: DiscoverySpecSchema,
  kafka: Type.Optional(KafkaSpecSchema),
  couchbase: Type.Optional(CouchbaseSpecSchema),
  limits: LimitsSpecSchema,
  auth: Type.Optional(AuthSpecSchema),
});

export const CONDITION_TYPES = ['Ready', 'Progressing', 'Degraded'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

export const ConditionSchema = Type.Object({
  type: Type.String({ minLength: 1, maxLength: 316 }),
  status: Type.Enum(['True', 'False', 'Unknown']),
  reason: Type.String({ maxLength: 1024 }),
  message: Type.String({ maxLength: 32_768 }),
  lastTransitionTime: Type.String({ format: 'date-time' }),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
});

export const PCMClusterStatusSchema = Type.Object({
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  replicas: Type.Optional(Type.Integer({ minimum: 0, description: 'Gateway pods the StatefulSet runs (draining ones included).' })),
  readyReplicas: Type.Optional(Type.Integer({ minimum: 0 })),
  selector: Type.Optional(Type.String({ description: 'Label selector of the gateway pods (scale subresource, HPA).' })),
  assignmentsGeneration: Type.Optional(Type.Integer({ minimum: 0, description: 'Generation of the published assignments ConfigMap.' })),
  drainingGateways: Type.Optional(Type.Array(Type.String(), { 'x-kubernetes-list-type': 'atomic' })),
  unassignedGateways: Type.Optional(
    Type.Array(Type.String(), {
      'x-kubernetes-list-type': 'atomic',
      description: 'Gateways kept out of the assignments because their pod is not Ready (never was, or not for longer than unreadyGraceSeconds).',
    }),
  ),
  conditions: Type.Optional(
    Type.Array(ConditionSchema, { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
  ),
});

export type PCMClusterSpec = Static<typeof PCMClusterSpecSchema>;
export type PCMClusterStatus = Static<typeof PCMClusterStatusSchema>;
export type Condition = Static<typeof ConditionSchema>;
export type GatewaysSpec = Static<typeof GatewaysSpecSchema>;

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  deletionTimestamp?: string;
  creationTimestamp?: string;
}

export interface PCMCluster {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: PCMClusterSpec;
  status?: PCMClusterStatus;
}

/** Exported for crd.ts and tests: the root's schemas by name. */
export const ROOT_SCHEMAS: { spec: TSchema; status: TSchema } = { spec: PCMClusterSpecSchema, status: PCMClusterStatusSchema };
