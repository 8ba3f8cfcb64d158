import { KubeConfig, ListWatch, Watch, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { Backoff } from '../../common/backoff.js';
import type { Logger } from '../../common/logger.js';
import { collectionPath, type KubeClient } from './client.js';
import type { KubeObject } from './object.js';

/**
 * A watched cache of one kind (client-node's ListWatch, the engine behind makeInformer):
 * list, then watch from the list's resourceVersion; a 410 Gone (history compacted) makes it
 * relist. What ListWatch does not do is come back after any other failure (API server
 * restart, network error): it reports the error and stops. Here every error restarts it after
 * a full-jitter backoff (common/backoff.ts), reset once events flow again.
 */
export interface InformerSpec {
  apiVersion: string;
  kind: string;
  /** undefined = all namespaces */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export type InformerEvent = 'add' | 'update' | 'delete';

export class Informer {
  private readonly lw: ListWatch<KubernetesObject>;
  private readonly backoff = new Backoff({ baseMs: 250, capMs: 30_000 });
  private restartTimer: NodeJS.Timeout | undefined;
  private stopped = true;
  private synced!: Promise<void>;
  private markSynced!: () => void;
  errors = 0;

  constructor(
    kube: KubeClient,
    kubeConfig: KubeConfig,
    readonly spec: InformerSpec,
    private readonly log: Logger,
    onEvent: (event: InformerEvent, obj: KubeObject) => void,
  ) {
    const path = collectionPath(spec.apiVersion, spec.kind, spec.namespace);
    const listFn = async () => {
      const list = await kube.list(spec.apiVersion, spec.kind, spec.namespace, { labelSelector: spec.labelSelector, fieldSelector: spec.fieldSelector });
      this.markSynced?.();
      return list as unknown as KubernetesListObject<KubernetesObject>;
    };
    this.resetSynced();
    // autoStart=false: start() decides.
    this.lw = new ListWatch(path, new Watch(kubeConfig), listFn, false, spec.labelSelector, spec.fieldSelector);
    for (const ev of ['add', 'update', 'delete'] as const) {
      this.lw.on(ev, (obj) => {
        this.backoff.reset();
        onEvent(ev, obj as unknown as KubeObject);
      });
    }
    this.lw.on('error', (err) => this.onError(err));
  }

  private resetSynced(): void {
    this.synced = new Promise((resolve) => (this.markSynced = resolve));
  }

  private onError(err: unknown): void {
    this.errors++;
    if (this.stopped) return;
    const delay = this.backoff.next();
    this.log.warn({ err: (err as Error)?.message ?? String(err), kind: this.spec.kind, retryInMs: delay }, 'watch failed; restarting');
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      if (!this.stopped) void this.lw.start();
    }, delay);
    this.restartTimer.unref();
  }

  /** Starts list+watch; resolves once the first list has arrived. */
  async start(): Promise<void> {
    this.stopped = false;
    void this.lw.start();
    await this.synced;
  }

  list(namespace?: string): readonly KubeObject[] {
    return this.lw.list(namespace) as unknown as readonly KubeObject[];
  }

  get(name: string, namespace?: string): KubeObject | undefined {
    return this.lw.get(name, namespace) as unknown as KubeObject | undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    await this.lw.stop();
  }
}
