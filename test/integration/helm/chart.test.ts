/**
 * charts/pcm without an API server (issue 7): `helm lint --strict`, what `helm template`
 * renders (security context, probes, RBAC scope, sample cluster), values.schema.json refusing
 * bad values, and the documentation of every value. The API server's verdict on the rendered
 * objects is in dry-run.test.ts; install/upgrade/uninstall in install.test.ts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { needService, repoRoot } from '../../services/env.js';
import { Helm, byKind, chartDir, kubeVersion, one, valuesAllFile } from './helm.js';
import type { KubeObject } from './kube.js';
import { envName } from '../../../common/config.js';
import { OperatorConfigSchema } from '../../../operator/config.js';

const helmEnv = needService('helm', ['PCM_TEST_HELM']);

type Obj = Record<string, unknown>;
const container = (d: KubeObject) => ((d.spec as Obj).template as { spec: { containers: Obj[] } }).spec.containers[0]!;
const podSpec = (d: KubeObject) => ((d.spec as Obj).template as { spec: Obj }).spec;

/** Leaf paths of a values tree (arrays and empty maps count as leaves). */
function leaves(v: unknown, prefix = ''): string[] {
  if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0) {
    return Object.entries(v as Obj).flatMap(([k, c]) => leaves(c, prefix ? `${prefix}.${k}` : k));
  }
  return [prefix];
}

describe('values.yaml documentation (no helm needed)', () => {
  const text = readFileSync(path.join(chartDir, 'values.yaml'), 'utf8');
  const values = parseYaml(text) as Obj;

  it('every top-level and nested key is preceded by a comment line (except keys inside documented maps)', () => {
    const lines = text.split('\n');
    const undocumented: string[] = [];
    // Keys whose whole subtree is one documented value (resources, security contexts, the sample spec).
    const documentedBlocks = /^(\s*)(resources|podSecurityContext|securityContext|spec):/;
    let skipIndent = -1;
    for (let i = 0; i < lines.length; i++) {
      const m = /^(\s*)([A-Za-z][\w-]*):/.exec(lines[i]!);
      if (!m) continue;
      const indent = m[1]!.length;
      if (skipIndent >= 0 && indent > skipIndent) continue;
      skipIndent = -1;
      const next = lines.slice(i + 1).find((l) => l.trim() !== '' && !l.trim().startsWith('#')) ?? '';
      const hasChildren = /^\s*[A-Za-z-]/.test(next) && next.search(/\S/) > indent;
      if (documentedBlocks.test(lines[i]!)) skipIndent = indent;
      // Parent maps are sections; leaves and documented blocks need `# -- ` right above.
      if (hasChildren && !documentedBlocks.test(lines[i]!)) continue;
      if (!/^\s*# -- /.test(lines[i - 1] ?? '')) undocumented.push(`${i + 1}: ${lines[i]!.trim()}`);
    }
    expect(undocumented).toEqual([]);
  });

  it('docs/helm.md has a row for every value', () => {
    const doc = readFileSync(path.join(repoRoot, 'docs/helm.md'), 'utf8');
    const keys = leaves(values).map((k) => k.replace(/^(operator\.(resources|podSecurityContext|securityContext)|sampleCluster\.spec)\..*$/, '$1'));
    const missing = [...new Set(keys)].filter((k) => !doc.includes(`| \`${k}\``));
    expect(missing).toEqual([]);
  });

  it('test/integration/helm/values-all.yaml sets every value (so dry-run covers every option)', () => {
    const all = parseYaml(readFileSync(valuesAllFile, 'utf8')) as Obj;
    const get = (o: Obj, p: string) => p.split('.').reduce<unknown>((a, k) => (a as Obj | undefined)?.[k], o);
    const unset = leaves(values).filter((k) => get(all, k) === undefined);
    expect(unset).toEqual([]);
    const same = leaves(values).filter((k) => JSON.stringify(get(all, k)) === JSON.stringify(get(values, k)) && !/rbac\.create|serviceAccount\.create|securityContext|SecurityContext/.test(k));
    expect(same, 'values-all.yaml should change each value from its default').toEqual([]);
  });
});

describe.skipIf(!helmEnv)('charts/pcm with helm', () => {
  const helm = new Helm(helmEnv?.PCM_TEST_HELM ?? 'helm');

  it('helm lint --strict is clean for the defaults and for values-all.yaml', () => {
    for (const args of [[], ['-f', valuesAllFile]]) {
      const r = helm.run(['lint', '--strict', chartDir, ...args]);
      expect(r.stdout + r.stderr, args.join(' ')).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
      expect(r.stdout, args.join(' ')).not.toMatch(/\[(WARNING|ERROR)\]/);
      expect(r.status).toBe(0);
    }
  });

  it('Chart.yaml: apiVersion v2, appVersion = package.json version, kubeVersion enforced (1.24 refused, test bed version accepted)', () => {
    const chart = parseYaml(readFileSync(path.join(chartDir, 'Chart.yaml'), 'utf8')) as Obj;
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(chart).toMatchObject({ apiVersion: 'v2', name: 'pcm', appVersion: pkg.version, kubeVersion: '>=1.25.0-0' });
    const old = helm.run(['template', 'pcm', chartDir, '--kube-version', '1.24.0']);
    expect(old.status).not.toBe(0);
    expect(old.stderr).toMatch(/kubeVersion/);
    expect(helm.run(['template', 'pcm', chartDir, '--kube-version', kubeVersion()]).status).toBe(0);
  });

  it('default render: ServiceAccount, cluster-scoped RBAC, leader-election Role, operator Deployment; no sample', () => {
    const objs = helm.template();
    expect(objs.map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'Deployment', 'Role', 'RoleBinding', 'ServiceAccount']);
    expect(byKind(objs, 'PCMCluster')).toEqual([]);
    const role = one(objs, 'Role');
    expect(role.metadata.namespace).toBe('pcm-system');
    expect(JSON.stringify(role.rules)).toContain('coordination.k8s.io');
    // Nothing in the chart reaches for secrets, cluster-wide write of RBAC, or wildcards.
    const rules = one(objs, 'ClusterRole').rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    for (const r of rules) {
      expect(r.verbs.filter((v) => ['*', 'escalate', 'bind', 'impersonate', 'deletecollection', 'update'].includes(v)), JSON.stringify(r)).toEqual(
        r.resources.includes('pcmclusters/finalizers') ? ['update'] : [],
      );
      expect(r.resources.filter((x) => ['*', 'secrets', 'clusterroles', 'clusterrolebindings', 'customresourcedefinitions', 'nodes', 'namespaces'].includes(x))).toEqual([]);
      expect(r.apiGroups).not.toContain('*');
    }
  });

  it('the operator Deployment is locked down: non-root, read-only root fs, no escalation, no caps, seccomp, probes, resources', () => {
    const d = one(helm.template(), 'Deployment');
    const c = container(d);
    const ps = podSpec(d);
    expect(ps.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(c.args).toEqual(['operator']);
    expect(c.image).toBe('pcm:0.1.0');
    expect(c.livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'health' } });
    expect(c.readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'health' } });
    expect(c.ports).toEqual([{ name: 'health', containerPort: 8082, protocol: 'TCP' }]);
    expect(c.resources).toMatchObject({ requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '384Mi' } });
    expect(c.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    expect(ps.serviceAccountName).toBe(one(helm.template(), 'ServiceAccount').metadata.name);
  });

  it('every PCM_* variable the chart sets is one the operator reads (operator/config.ts)', () => {
    const known = Object.keys(OperatorConfigSchema.properties).map((k) => envName(k));
    const set = (container(one(helm.template(), 'Deployment')).env as { name: string }[]).map((e) => e.name).filter((n) => n.startsWith('PCM_'));
    expect(set).toEqual(expect.arrayContaining(['PCM_NAMESPACE', 'PCM_LEASE_NAME', 'PCM_LEASE_NAMESPACE', 'PCM_IDENTITY', 'PCM_LOG_LEVEL']));
    expect(set).toContain('PCM_HEALTH_PORT');
    expect(set.filter((n) => !known.includes(n))).toEqual([]);
  });

  it('values-all.yaml: namespace-scoped Role in the watched namespace, digest-pinned image, sample PCMCluster with the spec given', () => {
    const objs = helm.template(['-f', valuesAllFile]);
    expect(byKind(objs, 'ClusterRole')).toEqual([]);
    const roles = byKind(objs, 'Role');
    expect(roles.map((r) => r.metadata.namespace).sort()).toEqual(['pcm-fleet', 'pcm-system']);
    const d = one(objs, 'Deployment');
    expect(d.metadata.name).toBe('pcm-all-operator');
    expect(container(d).image).toBe('registry.example.com/pcm/pcm@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef');
    expect(container(d).env).toContainEqual({ name: 'PCM_NAMESPACE', value: 'pcm-fleet' });
    expect(container(d).args).toEqual(['operator', '--log-level=debug']);
    const sample = one(objs, 'PCMCluster');
    expect(sample).toMatchObject({ apiVersion: 'pcm.dev/v1alpha1', metadata: { name: 'fleet', namespace: 'pcm-system' } });
    expect((sample.spec as Obj).kafka).toEqual({ brokers: ['kafka-0.kafka.example.com:9092'], topicPrefix: 'pcm.' });
    expect(d.metadata.labels).toMatchObject({ team: 'payments' });
  });

  it('the sample PCMCluster gets the chart image when gateways.image is empty', () => {
    const objs = helm.template(['--set', 'sampleCluster.enabled=true', '--set', 'image.tag=9.9.9']);
    const sample = one(objs, 'PCMCluster');
    expect(sample.spec).toMatchObject({ gateways: { image: 'pcm:9.9.9', replicas: 3, public: { hostTemplate: 'gw-{ordinal}.pcm.example.com' } }, discovery: { replicas: 2 } });
    // ... and an auth Secret with random keys, which spec.auth names.
    const secret = one(objs, 'Secret');
    expect(secret.metadata.name).toBe('pcm-auth');
    expect((sample.spec as Obj).auth).toEqual({ secretName: 'pcm-auth' });
    const data = secret.data as Record<string, string>;
    expect(Buffer.from(data.jwtSecret!, 'base64').toString()).toMatch(/^[A-Za-z0-9]{48}$/);
    expect(Buffer.from(data.apiKeys!, 'base64').toString()).toMatch(/^[A-Za-z0-9]{32}$/);
  });

  it('rbac.create=false and an existing ServiceAccount: only the Deployment, using that account; a missing name is refused', () => {
    const objs = helm.template(['--set', 'rbac.create=false', '--set', 'serviceAccount.create=false', '--set', 'serviceAccount.name=platform-pcm']);
    expect(objs.map((o) => o.kind)).toEqual(['Deployment']);
    expect(podSpec(objs[0]!).serviceAccountName).toBe('platform-pcm');
    const r = helm.run(['template', 'pcm', chartDir, '--kube-version', kubeVersion(), '--set', 'serviceAccount.create=false']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/serviceAccount\.name is required/);
  });

  it('no auth Secret when spec.auth is given or authSecret.create is false', () => {
    const withAuth = helm.template(['--set', 'sampleCluster.enabled=true', '--set', 'sampleCluster.spec.auth.secretName=mine']);
    expect(byKind(withAuth, 'Secret')).toEqual([]);
    expect((one(withAuth, 'PCMCluster').spec as Obj).auth).toEqual({ secretName: 'mine' });
    const off = helm.template(['--set', 'sampleCluster.enabled=true', '--set', 'sampleCluster.authSecret.create=false']);
    expect(byKind(off, 'Secret')).toEqual([]);
    expect((one(off, 'PCMCluster').spec as Obj).auth).toBeUndefined();
  });

  it.each([
    [['--set', 'operator.replicas=-1'], /operator\.replicas|replicas/],
    [['--set', 'operator.logLevel=loud'], /logLevel/],
    [['--set', 'operator.healthPort=80'], /healthPort/],
    [['--set', 'image.pullPolicy=Sometimes'], /pullPolicy/],
    [['--set', 'operator.watchNamespace=Not_A_Namespace'], /watchNamespace/],
    [['--set', 'operator.securityContext.allowPrivilegeEscalation=true'], /allowPrivilegeEscalation/],
    [['--set', 'operator.podSecurityContext.runAsNonRoot=false'], /runAsNonRoot/],
    [['--set', 'operatr.replicas=2'], /operatr|additional/i],
    [['--set', 'sampleCluster.enabled=true', '--set', 'sampleCluster.spec.gateways.replicas=-2'], /replicas/],
    [['--set', 'sampleCluster.enabled=true', '--set', 'sampleCluster.spec.gateways.protocols={http}'], /protocols/],
    [['--set', 'sampleCluster.enabled=true', '--set', 'sampleCluster.spec.gateways.public.hostTemplate=gw.example.com'], /hostTemplate/],
    [['--set', 'sampleCluster.enabled=true', '--set', 'sampleCluster.spec.gateways.replica=2'], /replica|additional/i],
    [['--set', 'operator.leaderElection.enabled=false'], /leaderElection|additional/i],
  ])('refuses bad values at template time: %j', (args, field) => {
    const r = helm.run(['template', 'pcm', chartDir, '--kube-version', kubeVersion(), ...args]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(field);
  });
});
