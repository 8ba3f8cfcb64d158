import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../operator/kube/client.js';
import { Informer } from '../../operator/kube/informers.js';
import type { KubeObject } from '../../operator/kube/object.js';
import type { Logger } from '../../common/logger.js';
import { SnapshotListeners } from './emitter.js';
import { parseGatewaySnapshot, sameGateways } from './snapshot.js';
import { EMPTY_SNAPSHOT, type GatewaySnapshot, type GatewaySource, type KubeGatewaySourceFactory, type KubeGatewaySourceOptions, type SnapshotListener } from './source.js';

/**
 * Gateway set from the operator's assignments ConfigMap (issue 6, "Discovery from
 * Kubernetes"), WATCHED through the API, not polled and not read from a volume (a ConfigMap
 * volume lags by up to a minute): an operator change reaches discovery within one watch
 * event, so terminals see it on their next poll.
 *
 * The watch is list+watch on just that ConfigMap (fieldSelector metadata.name=…, which is
 * what the discovery Role's resourceNames allows), relisting on 410 and restarting with
 * backoff after any failure (operator/kube/informers.ts). A ConfigMap that is missing,
 * deleted or unparsable keeps the last good set and logs: a bad edit must never empty the
 * fleet. The generation is the document's own (the operator's assignments generation).
 */
export interface KubeSourceOptions extends KubeGatewaySourceOptions {
  /** Defaults to $KUBECONFIG / ~/.kube/config / the in-cluster service account. */
  kubeConfig?: KubeConfig;
  /** ready() resolves after this long even if the first list has not succeeded. Default 10 s. */
  readyTimeoutMs?: number;
}

export class KubeGatewaySource implements GatewaySource {
  private snapshot: GatewaySnapshot = EMPTY_SNAPSHOT;
  private readonly listeners: SnapshotListeners;
  private readonly informer: Informer;
  private readonly firstLoad: Promise<void>;
  private readonly log: Logger;
  private lastText: string | undefined;
  private closed = false;

  constructor(private readonly opts: KubeSourceOptions) {
    this.log = opts.logger.child({ configMap: `${opts.namespace}/${opts.configMapName}`, key: opts.key });
    this.listeners = new SnapshotListeners((err) => this.log.error({ err }, 'gateway set listener failed'));
    const kubeConfig = opts.kubeConfig ?? defaultKubeConfig();
    const kube = new KubeClient(kubeConfig);
    this.informer = new Informer(
      kube,
      kubeConfig,
      { apiVersion: 'v1', kind: 'ConfigMap', namespace: opts.namespace, fieldSelector: `metadata.name=${opts.configMapName}` },
      this.log,
      (event, obj) => (event === 'delete' ? this.onDelete() : this.onConfigMap(obj)),
    );
    // ready() must resolve even when the API server is unreachable (the contract: "loaded, or
    // failed and logged"); the informer keeps retrying in the background.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), opts.readyTimeoutMs ?? 10_000)));
    this.firstLoad = Promise.race([this.informer.start().then(() => 'listed' as const), timeout]).then((how) => {
      clearTimeout(timer);
      if (how === 'timeout') this.log.error('cannot list the assignments ConfigMap yet; serving no gateways, still trying');
      else if (this.snapshot === EMPTY_SNAPSHOT) this.log.error('assignments ConfigMap not found; serving no gateways until it appears');
    });
  }

  private onConfigMap(cm: KubeObject): void {
    if (this.closed) return;
    const text = (cm.data as Record<string, string> | undefined)?.[this.opts.key];
    if (text === undefined) {
      this.log.error('assignments ConfigMap has no such key; keeping the last good set');
      return;
    }
    if (text === this.lastText) return;
    this.lastText = text;
    let next: GatewaySnapshot;
    try {
      next = parseGatewaySnapshot(text, this.snapshot.generation + 1);
    } catch (err) {
      this.log.error({ err, code: (err as { code?: string }).code }, `invalid assignments; keeping the last good set (generation ${this.snapshot.generation})`);
      return;
    }
    if (next.generation === this.snapshot.generation && sameGateways(next.gateways, this.snapshot.gateways)) return;
    this.snapshot = next;
    this.log.info({ generation: next.generation, gateways: next.gateways.length, draining: next.gateways.filter((g) => g.draining).length }, 'gateway set loaded');
    this.listeners.emit(next);
  }

  private onDelete(): void {
    this.log.warn({ generation: this.snapshot.generation }, 'assignments ConfigMap deleted; keeping the last good set until it is recreated');
    this.lastText = undefined;
  }

  current(): GatewaySnapshot {
    return this.snapshot;
  }
  ready(): Promise<void> {
    return this.firstLoad;
  }
  subscribe(listener: SnapshotListener): () => void {
    return this.listeners.add(listener);
  }
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    await this.informer.stop();
  }
}

function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

/** The factory discovery/main.ts loads lazily (source.ts's contract). */
export const createKubeGatewaySource: KubeGatewaySourceFactory = (options) => new KubeGatewaySource(options);
