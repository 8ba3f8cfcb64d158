import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { PcmError } from '../../common/errors.js';
import type { KubeObject, ObjectRef } from './object.js';
import { refString } from './object.js';

/**
 * A small JSON client for the Kubernetes REST API, authenticated by client-node's KubeConfig
 * (kubeconfig file or in-cluster service account). It exists because the generic apply needs
 * objects exactly as the server sends them: client-node's typed serializer turns timestamps
 * into Dates and drops fields its models lack. Every write (POST/PUT/PATCH/DELETE) is counted,
 * so tests can assert "a second pass with nothing changed writes nothing" (issue 6).
 */
export class KubeApiError extends PcmError {
  constructor(
    readonly statusCode: number,
    readonly reason: string,
    message: string,
  ) {
    super('PCM_ERR_KUBE_API', message, { details: { status: statusCode, reason } });
    // Conflicts, throttling and server errors pass with a retry; the rest need a change.
    Object.defineProperty(this, 'transient', { value: statusCode === 0 || statusCode === 409 || statusCode === 429 || statusCode >= 500 });
  }
}

export const isNotFound = (err: unknown) => err instanceof KubeApiError && err.statusCode === 404;
export const isConflict = (err: unknown) => err instanceof KubeApiError && err.statusCode === 409;

/** Plural resource names of the kinds the operator touches (no discovery round trip needed). */
const PLURALS: Record<string, string> = {
  ConfigMap: 'configmaps',
  Service: 'services',
  ServiceAccount: 'serviceaccounts',
  Pod: 'pods',
  Event: 'events',
  Namespace: 'namespaces',
  Secret: 'secrets',
  StatefulSet: 'statefulsets',
  Deployment: 'deployments',
  PodDisruptionBudget: 'poddisruptionbudgets',
  Role: 'roles',
  RoleBinding: 'rolebindings',
  Lease: 'leases',
  PCMCluster: 'pcmclusters',
  CustomResourceDefinition: 'customresourcedefinitions',
};
const CLUSTER_SCOPED = new Set(['Namespace', 'CustomResourceDefinition']);

export function collectionPath(apiVersion: string, kind: string, namespace?: string): string {
  const plural = PLURALS[kind];
  if (!plural) throw new Error(`kube client: unknown kind ${kind}`);
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  // No namespace for a namespaced kind = across all namespaces (lists and watches only).
  if (CLUSTER_SCOPED.has(kind) || !namespace) return `${base}/${plural}`;
  return `${base}/namespaces/${encodeURIComponent(namespace)}/${plural}`;
}

export const objectPath = (r: ObjectRef) => `${collectionPath(r.apiVersion, r.kind, r.namespace)}/${encodeURIComponent(r.name)}`;

export interface KubeList<T = KubeObject> {
  items: T[];
  metadata: { resourceVersion?: string; continue?: string };
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
}

export interface KubeClientOptions {
  /** fieldManager of server-side apply and of every write. */
  fieldManager?: string;
  timeoutMs?: number;
}

export class KubeClient {
  /** Writes sent (POST, PUT, PATCH, DELETE), total and by "VERB kind/ns/name". */
  writes = 0;
  readonly writeLog: string[] = [];
  private readonly fieldManager: string;
  private readonly timeoutMs: number;
  private readonly server: URL;

  constructor(
    readonly kubeConfig: KubeConfig,
    opts: KubeClientOptions = {},
  ) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new PcmError('PCM_ERR_CONFIG', 'invalid configuration: kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
    this.fieldManager = opts.fieldManager ?? 'pcm-operator';
    this.timeoutMs = opts.timeoutMs ?? 15_000;
  }

  async request<T = unknown>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const url = new URL(path, this.server);
    const options: https.RequestOptions = { method, headers: { Accept: 'application/json' } };
    await this.kubeConfig.applyToHTTPSOptions(options);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (payload) Object.assign(options.headers!, { 'Content-Type': contentType, 'Content-Length': String(payload.length) });
    if (method !== 'GET') {
      this.writes++;
      this.writeLog.push(`${method} ${url.pathname}`);
    }
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise<T>((resolve, reject) => {
      const req = lib.request(url, { ...options, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let data: unknown;
          try {
            data = text ? JSON.parse(text) : undefined;
          } catch {
            data = text;
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve(data as T);
          const st = data as { message?: string; reason?: string } | undefined;
          reject(new KubeApiError(status, st?.reason ?? 'Unknown', `${method} ${url.pathname}: ${status} ${st?.message ?? text.slice(0, 300)}`));
        });
      });
      req.on('timeout', () => req.destroy(new KubeApiError(0, 'Timeout', `${method} ${url.pathname}: no answer in ${this.timeoutMs} ms`)));
      req.on('error', (err) => reject(err instanceof KubeApiError ? err : new KubeApiError(0, 'NetworkError', `${method} ${url.pathname}: ${(err as Error).message}`)));
      req.end(payload);
    });
  }

  async get<T extends KubeObject = KubeObject>(ref: ObjectRef): Promise<T | undefined> {
    try {
      return await this.request<T>('GET', objectPath(ref));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  list<T extends KubeObject = KubeObject>(apiVersion: string, kind: string, namespace?: string, opts: ListOptions = {}): Promise<KubeList<T>> {
    const q = new URLSearchParams();
    if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
    if (opts.fieldSelector) q.set('fieldSelector', opts.fieldSelector);
    const qs = q.toString();
    return this.request<KubeList<T>>('GET', `${collectionPath(apiVersion, kind, namespace)}${qs ? `?${qs}` : ''}`);
  }

  create<T extends KubeObject = KubeObject>(obj: KubeObject): Promise<T> {
    return this.request<T>('POST', `${collectionPath(obj.apiVersion, obj.kind, obj.metadata.namespace)}?fieldManager=${this.fieldManager}`, obj);
  }

  /** Replace with optimistic concurrency: `obj.metadata.resourceVersion` must be current (409 otherwise). */
  replace<T extends KubeObject = KubeObject>(obj: KubeObject): Promise<T> {
    return this.request<T>('PUT', `${objectPath({ apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace })}?fieldManager=${this.fieldManager}`, obj);
  }

  /**
   * Server-side apply (force): the operator owns every field it sets, and fields it stops
   * setting are removed, which a merge patch cannot express.
   */
  applyObject<T extends KubeObject = KubeObject>(obj: KubeObject): Promise<T> {
    const path = objectPath({ apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace });
    return this.request<T>('PATCH', `${path}?fieldManager=${this.fieldManager}&force=true`, obj, 'application/apply-patch+yaml');
  }

  mergePatch<T extends KubeObject = KubeObject>(ref: ObjectRef, patch: unknown, subresource?: 'status' | 'scale'): Promise<T> {
    return this.request<T>('PATCH', `${objectPath(ref)}${subresource ? `/${subresource}` : ''}?fieldManager=${this.fieldManager}`, patch, 'application/merge-patch+json');
  }

  /** Deletes with background propagation; false when it was already gone. */
  async delete(ref: ObjectRef, opts: { preconditionUid?: string } = {}): Promise<boolean> {
    const body: Record<string, unknown> = { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' };
    if (opts.preconditionUid) body.preconditions = { uid: opts.preconditionUid };
    try {
      await this.request('DELETE', objectPath(ref), body);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  describe(ref: ObjectRef): string {
    return refString(ref);
  }
}
