import type { Logger } from '../../common/logger.js';

/**
 * The gateway set discovery assigns terminals to (DESIGN.md section 5, "Discovery").
 *
 * A GatewaySource owns one live view of the fleet: a snapshot that is replaced wholesale
 * when the fleet changes, plus a change subscription. Implementations: static (config),
 * file (JSON file, reloaded on change), kube (the operator's assignments ConfigMap,
 * discovery/sources/kube.ts). Discovery never mutates a snapshot; sources must hand out
 * frozen ones (`freezeSnapshot`).
 */
export interface GatewayEndpoint {
  /** Stable gateway id (the StatefulSet pod name in Kubernetes); the rendezvous hash key. */
  readonly id: string;
  /** Public WebSocket URL terminals dial, e.g. `wss://gw-0.example.com/v1/connect`. */
  readonly websocketUrl: string;
  /** Public MQTT URL terminals dial, e.g. `mqtts://gw-0.example.com:8883`. */
  readonly mqttUrl: string;
  /** Relative capacity (> 0). A gateway with weight 2 gets about twice the terminals of weight 1. */
  readonly weight: number;
  /** Draining gateways receive no new assignments (DESIGN.md section 5). */
  readonly draining: boolean;
  /**
   * False when the operator holds the gateway back because its pod is not Ready (a compatible
   * extension of the assignments document: absent means ready). Not assigned, like draining,
   * but the gateway itself does not evacuate. Only present when false.
   */
  readonly ready?: false;
}

export interface GatewaySnapshot {
  /**
   * Published assignment generation: changes whenever the gateway set changes (the
   * operator's ConfigMap generation, the file's `generation`, or a counter the source keeps).
   * Returned to terminals so a support engineer can tell which set answered.
   */
  readonly generation: number;
  readonly gateways: readonly GatewayEndpoint[];
}

export type SnapshotListener = (snapshot: GatewaySnapshot) => void;

export interface GatewaySource {
  /** The latest good snapshot. Before the first load completes: generation 0, no gateways. */
  current(): GatewaySnapshot;
  /** Resolves once the first snapshot is loaded (or failed to load and was logged); backs /readyz. */
  ready(): Promise<void>;
  /** Calls `listener` after every change of snapshot. Returns the unsubscribe function. */
  subscribe(listener: SnapshotListener): () => void;
  /** Stops watching and releases resources; idempotent. */
  close(): Promise<void>;
}

/**
 * Contract for discovery/sources/kube.ts (written by the operator engineer): discovery's
 * main.ts imports it lazily (so @kubernetes/client-node is loaded only when used) and calls
 * `createKubeGatewaySource(options)`. The ConfigMap's `key` holds the same JSON document the
 * file source reads; parse it with `parseGatewaySnapshot` from ./snapshot.js.
 */
export interface KubeGatewaySourceOptions {
  namespace: string;
  configMapName: string;
  /** Data key inside the ConfigMap; default `gateways.json`. */
  key: string;
  logger: Logger;
}
export type KubeGatewaySourceFactory = (options: KubeGatewaySourceOptions) => GatewaySource;

export const EMPTY_SNAPSHOT: GatewaySnapshot = Object.freeze({ generation: 0, gateways: Object.freeze([]) as readonly GatewayEndpoint[] });
