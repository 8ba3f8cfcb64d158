/**
 * A raw JSON client for the test bed's kube-apiserver (DESIGN.md section 6), used by the chart
 * tests. Raw on purpose: client-node's typed serializer renames CRD schema keywords
 * (`default` -> `_default`) and drops fields its models lack, and the tests must send objects
 * exactly as `helm template` rendered them. Kinds are mapped to resources by API discovery,
 * so the chart can add kinds without touching this file.
 */
import http from 'node:http';
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface ResourceInfo {
  plural: string;
  namespaced: boolean;
}

export class Kube {
  readonly kc: KubeConfig;
  private readonly server: URL;
  private readonly resources = new Map<string, ResourceInfo>();

  constructor(kubeconfigPath: string) {
    this.kc = new KubeConfig();
    this.kc.loadFromFile(kubeconfigPath);
    this.server = new URL(this.kc.getCurrentCluster()!.server);
  }

  async request<T = unknown>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const url = new URL(path, this.server);
    const options: https.RequestOptions = { method, headers: { Accept: 'application/json' }, timeout: 15_000 };
    await this.kc.applyToHTTPSOptions(options);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (payload) Object.assign(options.headers!, { 'Content-Type': contentType, 'Content-Length': String(payload.length) });
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise<T>((resolve, reject) => {
      const req = lib.request(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let data: unknown = text;
          try {
            data = text ? JSON.parse(text) : undefined;
          } catch {
            /* not JSON */
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve(data as T);
          const st = data as { message?: string; reason?: string } | undefined;
          reject(new ApiError(status, st?.reason ?? 'Unknown', `${method} ${url.pathname}${url.search}: ${status} ${st?.message ?? String(text).slice(0, 300)}`));
        });
      });
      req.on('timeout', () => req.destroy(new ApiError(0, 'Timeout', `${method} ${url.pathname}: timeout`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** Plural and scope of a kind, from the API server's discovery documents. */
  async resource(apiVersion: string, kind: string, refresh = false): Promise<ResourceInfo> {
    const key = `${apiVersion}/${kind}`;
    if (!refresh && this.resources.has(key)) return this.resources.get(key)!;
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const list = await this.request<{ resources: { name: string; kind: string; namespaced: boolean }[] }>('GET', base);
    for (const r of list.resources) if (!r.name.includes('/')) this.resources.set(`${apiVersion}/${r.kind}`, { plural: r.name, namespaced: r.namespaced });
    const info = this.resources.get(key);
    if (!info) throw new Error(`kind ${kind} is not served under ${apiVersion}`);
    return info;
  }

  async collection(apiVersion: string, kind: string, namespace?: string): Promise<string> {
    const r = await this.resource(apiVersion, kind);
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    if (!r.namespaced) return `${base}/${r.plural}`;
    if (!namespace) throw new Error(`${kind} is namespaced: give a namespace`);
    return `${base}/namespaces/${namespace}/${r.plural}`;
  }

  /** POST; `dryRun` makes the server run admission and validation but persist nothing. */
  async create<T = KubeObject>(obj: KubeObject, opts: { dryRun?: boolean; namespace?: string } = {}): Promise<T> {
    const path = await this.collection(obj.apiVersion, obj.kind, obj.metadata.namespace ?? opts.namespace);
    return this.request<T>('POST', `${path}?fieldValidation=Strict${opts.dryRun ? '&dryRun=All' : ''}`, obj);
  }

  async get<T = KubeObject>(apiVersion: string, kind: string, name: string, namespace?: string): Promise<T | undefined> {
    try {
      return await this.request<T>('GET', `${await this.collection(apiVersion, kind, namespace)}/${name}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  async list<T = KubeObject>(apiVersion: string, kind: string, namespace?: string, labelSelector?: string): Promise<T[]> {
    const q = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : '';
    const res = await this.request<{ items: T[] }>('GET', `${await this.collection(apiVersion, kind, namespace)}${q}`);
    return res.items;
  }

  async delete(apiVersion: string, kind: string, name: string, namespace?: string): Promise<boolean> {
    try {
      await this.request('DELETE', `${await this.collection(apiVersion, kind, namespace)}/${name}`, { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' });
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return false;
      throw err;
    }
  }

  async createNamespace(name: string): Promise<void> {
    await this.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'pcm.dev/test': 'helm' } } });
  }

  /** Deletes the namespace and, outside of it, nothing. Does not wait (kwok pods finalize slowly). */
  async deleteNamespace(name: string): Promise<void> {
    await this.delete('v1', 'Namespace', name);
  }

  /**
   * SubjectAccessReview: may `user` (with `groups`) do `verb` on the resource? Authorization as
   * the API server's RBAC authorizer decides it, without acting.
   */
  async can(
    user: string,
    groups: string[],
    attrs: { verb: string; group?: string; resource: string; subresource?: string; namespace?: string; name?: string },
  ): Promise<boolean> {
    const sar = await this.request<{ status: { allowed: boolean } }>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: { user, groups, resourceAttributes: { group: attrs.group ?? '', ...attrs } },
    });
    return sar.status.allowed;
  }

  /** A short-lived token of a ServiceAccount (TokenRequest API). */
  async serviceAccountToken(namespace: string, name: string, seconds = 3600): Promise<string> {
    const res = await this.request<{ status: { token: string } }>('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: seconds },
    });
    return res.status.token;
  }

  /** A kubeconfig (YAML text) for the same server that authenticates with `token`. */
  kubeconfigForToken(token: string, namespace = 'default'): string {
    const cluster = this.kc.getCurrentCluster()!;
    const caData = cluster.caData ?? '';
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: pcm-test',
      '  cluster:',
      `    server: ${cluster.server}`,
      caData ? `    certificate-authority-data: ${caData}` : `    insecure-skip-tls-verify: ${cluster.skipTLSVerify ? 'true' : 'false'}`,
      'users:',
      '- name: sa',
      '  user:',
      `    token: ${token}`,
      'contexts:',
      '- name: sa',
      '  context:',
      '    cluster: pcm-test',
      '    user: sa',
      `    namespace: ${namespace}`,
      'current-context: sa',
      '',
    ].join('\n');
  }
}

/** Polls `check` until it returns a value (not undefined), at most `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const randomSuffix = () => Math.random().toString(36).slice(2, 8);
