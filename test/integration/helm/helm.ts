/**
 * Runs the test bed's `helm` (`npm run services -- up helm` -> PCM_TEST_HELM) on charts/pcm,
 * with a private HELM_* home so tests never touch a user's repositories or cache.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { readServicesEnv, repoRoot } from '../../services/env.js';
import type { KubeObject } from './kube.js';

export const chartDir = path.join(repoRoot, 'charts/pcm');
export const valuesAllFile = path.join(repoRoot, 'test/integration/helm/values-all.yaml');

export interface HelmResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export class Helm {
  private readonly home = mkdtempSync(path.join(tmpdir(), 'pcm-helm-home-'));

  constructor(
    readonly bin: string,
    readonly kubeconfig?: string,
  ) {}

  run(args: string[], timeoutMs = 120_000): HelmResult {
    const r = spawnSync(this.bin, args, {
      encoding: 'utf8',
      timeout: timeoutMs,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: this.home,
        HELM_CACHE_HOME: path.join(this.home, 'cache'),
        HELM_CONFIG_HOME: path.join(this.home, 'config'),
        HELM_DATA_HOME: path.join(this.home, 'data'),
        ...(this.kubeconfig ? { KUBECONFIG: this.kubeconfig } : {}),
      },
    });
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error) : '') };
  }

  /** Runs and throws with helm's own output when it fails. */
  ok(args: string[], timeoutMs?: number): string {
    const r = this.run(args, timeoutMs);
    if (r.status !== 0) throw new Error(`helm ${args.join(' ')} exited ${r.status}:\n${r.stderr}\n${r.stdout}`);
    return r.stdout;
  }

  /** `helm template` rendered objects (CRDs included when asked). */
  template(args: string[] = [], opts: { includeCrds?: boolean; release?: string; namespace?: string } = {}): KubeObject[] {
    const out = this.ok([
      'template',
      opts.release ?? 'pcm',
      chartDir,
      '--namespace',
      opts.namespace ?? 'pcm-system',
      // A `go install`ed helm reports Kubernetes v1.20 as its default capabilities; render for
      // the test bed's version (or a recent one), as `helm install` does against a live server.
      '--kube-version',
      kubeVersion(),
      ...(opts.includeCrds ? ['--include-crds'] : []),
      ...args,
    ]);
    return parseObjects(out);
  }
}

export function kubeVersion(): string {
  return readServicesEnv().PCM_TEST_KUBE_VERSION ?? process.env.PCM_TEST_KUBE_VERSION ?? 'v1.37.2';
}

export function parseObjects(text: string): KubeObject[] {
  const out: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`invalid YAML from helm: ${doc.errors[0]!.message}`);
    const v = doc.toJS() as KubeObject | null;
    if (v) out.push(v);
  }
  return out;
}

export const byKind = (objs: KubeObject[], kind: string) => objs.filter((o) => o.kind === kind);
export const one = (objs: KubeObject[], kind: string): KubeObject => {
  const found = byKind(objs, kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, got ${found.length}`);
  return found[0]!;
};
