/**
 * Issue 7 acceptance on the test bed's kube-full control plane (kwok plays the node and pods):
 * `helm install` creates the CRD and the operator, whose pod becomes Ready; the operator's
 * ServiceAccount can do what reconcile needs and nothing broader (SubjectAccessReviews against
 * the RBAC authorizer); `helm upgrade` with a changed value rolls a new ReplicaSet, one without
 * changes does not; `helm uninstall` removes what the chart made and leaves the CRD and the
 * user's PCMClusters (docs/helm.md, "Uninstall").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { needService } from '../../services/env.js';
import { Helm, chartDir } from './helm.js';
import { Kube, type KubeObject, randomSuffix, waitFor } from './kube.js';

const helmEnv = needService('helm', ['PCM_TEST_HELM']);
const kubeEnv = needService('kube-full', ['PCM_TEST_KUBECONFIG', 'PCM_TEST_KUBE_FULL']);

interface Pod extends KubeObject {
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
  spec: { containers: { env?: { name: string; value?: string }[] }[] };
}
type RS = KubeObject & { spec: { replicas: number }; status?: { readyReplicas?: number } };

const RELEASE = 'pcm';
const OPERATOR = 'pcm-operator'; // fullname = release name (it contains the chart name) + "-operator"
const SELECTOR = `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=operator`;

const isReady = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const hashOf = (o: KubeObject) => o.metadata.labels?.['pod-template-hash'];

describe.skipIf(!helmEnv || !kubeEnv)('helm install / upgrade / uninstall on kube-full', () => {
  let kube: Kube;
  let helm: Helm;
  const ns = `pcm-helm-${randomSuffix()}`;
  const other = `${ns}-other`;
  const clusterRoleName = `${ns}-${OPERATOR}`;
  let crdExistedBefore = false;
  const userCluster = {
    apiVersion: 'pcm.dev/v1alpha1',
    kind: 'PCMCluster',
    metadata: { name: 'user-fleet', namespace: ns },
    spec: { gateways: { replicas: 0, image: 'pcm:0.1.0', public: { hostTemplate: 'gw-{ordinal}.user.example.com' } }, discovery: { replicas: 0 } },
  };

  beforeAll(async () => {
    kube = new Kube(kubeEnv!.PCM_TEST_KUBECONFIG!);
    helm = new Helm(helmEnv!.PCM_TEST_HELM!, kubeEnv!.PCM_TEST_KUBECONFIG!);
    crdExistedBefore = (await kube.get('apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'pcmclusters.pcm.dev')) !== undefined;
    await kube.createNamespace(ns);
    await kube.createNamespace(other);
  });
  afterAll(async () => {
    helm?.run(['uninstall', RELEASE, '-n', ns, '--ignore-not-found']);
    await kube?.delete('pcm.dev/v1alpha1', 'PCMCluster', userCluster.metadata.name, ns).catch(() => undefined);
    await kube?.deleteNamespace(ns).catch(() => undefined);
    await kube?.deleteNamespace(other).catch(() => undefined);
  });

  it('helm install creates the CRD and the operator; the operator pod becomes Ready', async () => {
    const out = helm.ok(['install', RELEASE, chartDir, '-n', ns, '--wait', '--timeout', '180s'], 240_000);
    expect(out).toMatch(/STATUS: deployed/);
    // NOTES.txt tells the user what to do next.
    expect(out).toContain(`kubectl -n ${ns} rollout status deployment/${OPERATOR}`);

    const crd = await kube.get<KubeObject & { spec: unknown; status: { conditions: { type: string; status: string }[] } }>(
      'apiextensions.k8s.io/v1',
      'CustomResourceDefinition',
      'pcmclusters.pcm.dev',
    );
    expect(crd).toBeDefined();
    expect(crd!.status.conditions).toContainEqual(expect.objectContaining({ type: 'Established', status: 'True' }));
    // Whoever created it first, the served CRD is the chart's file (Helm skips an existing one).
    const file = parseYaml(readFileSync(path.join(chartDir, 'crds/pcmclusters.yaml'), 'utf8')) as { spec: { versions: { schema: unknown }[] } };
    expect((crd!.spec as { versions: { schema: unknown }[] }).versions[0]!.schema).toEqual(file.spec.versions[0]!.schema);
    if (!crdExistedBefore) console.info('helm install created pcmclusters.pcm.dev');

    const pods = await waitFor('a Ready operator pod', async () => {
      const list = await kube.list<Pod>('v1', 'Pod', ns, SELECTOR);
      return list.length === 1 && isReady(list[0]!) ? list : undefined;
    }, 120_000);
    expect(pods[0]!.status?.phase).toBe('Running');
    const dep = await kube.get<KubeObject & { status: { readyReplicas?: number; availableReplicas?: number } }>('apps/v1', 'Deployment', OPERATOR, ns);
    expect(dep!.status.availableReplicas).toBe(1);
    expect(await kube.get('v1', 'ServiceAccount', OPERATOR, ns)).toBeDefined();
  });

  describe('RBAC: the ServiceAccount may do what reconcile needs and nothing broader', () => {
    const user = () => `system:serviceaccount:${ns}:${OPERATOR}`;
    const groups = () => ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'];
    type Attr = { verb: string; group?: string; resource: string; subresource?: string; namespace?: string; name?: string };
    const check = async (attrs: Attr[]) => {
      const out: string[] = [];
      for (const a of attrs) if (await kube.can(user(), groups(), a)) out.push(`${a.verb} ${a.group ?? ''}/${a.resource}${a.subresource ? `/${a.subresource}` : ''}${a.name ? ` ${a.name}` : ''} in ${a.namespace ?? '(cluster)'}`);
      return out;
    };

    it('allowed: everything the operator calls, in any namespace (cluster scope by default)', async () => {
      const need: Attr[] = [];
      for (const namespace of [ns, other]) {
        for (const verb of ['get', 'list', 'watch']) need.push({ verb, group: 'pcm.dev', resource: 'pcmclusters', namespace });
        need.push({ verb: 'patch', group: 'pcm.dev', resource: 'pcmclusters', subresource: 'status', namespace });
        need.push({ verb: 'update', group: 'pcm.dev', resource: 'pcmclusters', subresource: 'finalizers', namespace });
        for (const [group, resource] of [['apps', 'statefulsets'], ['apps', 'deployments'], ['', 'services'], ['', 'configmaps'], ['policy', 'poddisruptionbudgets']]) {
          for (const verb of ['get', 'list', 'watch', 'create', 'patch', 'delete']) need.push({ verb, group, resource, namespace });
        }
        for (const [group, resource] of [['', 'serviceaccounts'], ['rbac.authorization.k8s.io', 'roles'], ['rbac.authorization.k8s.io', 'rolebindings']]) {
          for (const verb of ['get', 'create', 'patch', 'delete']) need.push({ verb, group, resource, namespace });
        }
        need.push({ verb: 'list', resource: 'pods', namespace }, { verb: 'watch', resource: 'pods', namespace }, { verb: 'create', resource: 'events', namespace });
      }
      // Cluster-scope informers list and watch across all namespaces (no namespace in the request).
      for (const [group, resource] of [['pcm.dev', 'pcmclusters'], ['apps', 'statefulsets'], ['apps', 'deployments'], ['', 'services'], ['', 'configmaps'], ['policy', 'poddisruptionbudgets'], ['', 'pods']]) {
        for (const verb of ['list', 'watch']) need.push({ verb, group, resource });
      }
      need.push(
        { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: ns },
        { verb: 'get', group: 'coordination.k8s.io', resource: 'leases', namespace: ns, name: OPERATOR },
        { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: ns, name: OPERATOR },
      );
      const allowed = await check(need);
      expect(allowed.length).toBe(need.length);
    });

    it('denied: secrets, writing PCMCluster specs, pods, other leases, cluster-scoped and escalation verbs', async () => {
      const deny: Attr[] = [
        { verb: 'get', resource: 'secrets', namespace: ns },
        { verb: 'list', resource: 'secrets', namespace: other },
        { verb: 'create', group: 'pcm.dev', resource: 'pcmclusters', namespace: ns },
        { verb: 'update', group: 'pcm.dev', resource: 'pcmclusters', namespace: ns },
        { verb: 'patch', group: 'pcm.dev', resource: 'pcmclusters', namespace: ns },
        { verb: 'delete', group: 'pcm.dev', resource: 'pcmclusters', namespace: ns },
        { verb: 'get', resource: 'pods', namespace: ns },
        { verb: 'delete', resource: 'pods', namespace: ns },
        { verb: 'create', resource: 'pods', subresource: 'exec', namespace: ns },
        { verb: 'update', group: 'apps', resource: 'statefulsets', namespace: ns },
        { verb: 'deletecollection', resource: 'configmaps', namespace: ns },
        { verb: 'list', group: 'coordination.k8s.io', resource: 'leases', namespace: ns },
        { verb: 'get', group: 'coordination.k8s.io', resource: 'leases', namespace: ns, name: 'someone-else' },
        { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: other, name: OPERATOR },
        { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
        { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings' },
        { verb: 'escalate', group: 'rbac.authorization.k8s.io', resource: 'roles', namespace: ns },
        { verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'roles', namespace: ns },
        { verb: 'create', group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' },
        { verb: 'delete', resource: 'namespaces', name: ns },
        { verb: 'list', resource: 'nodes' },
        { verb: 'impersonate', resource: 'users' },
        { verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: ns },
      ];
      expect(await check(deny)).toEqual([]);
    });
  });

  it('helm upgrade with a changed value rolls the operator: new ReplicaSet, new Ready pod; without changes nothing rolls', async () => {
    const before = await kube.list<RS>('apps/v1', 'ReplicaSet', ns, SELECTOR);
    expect(before.length).toBe(1);
    const oldHash = hashOf(before[0]!);

    // Same values: a new Helm revision, the same pod template, no new ReplicaSet.
    helm.ok(['upgrade', RELEASE, chartDir, '-n', ns, '--reuse-values', '--wait', '--timeout', '180s'], 240_000);
    expect((await kube.list<RS>('apps/v1', 'ReplicaSet', ns, SELECTOR)).map(hashOf)).toEqual([oldHash]);

    helm.ok(['upgrade', RELEASE, chartDir, '-n', ns, '--reuse-values', '--set', 'operator.logLevel=debug', '--wait', '--timeout', '180s'], 240_000);
    const after = await waitFor('old ReplicaSet scaled to zero', async () => {
      const rs = await kube.list<RS>('apps/v1', 'ReplicaSet', ns, SELECTOR);
      return rs.length === 2 && rs.find((r) => hashOf(r) === oldHash)?.spec.replicas === 0 ? rs : undefined;
    }, 120_000);
    const fresh = after.find((r) => hashOf(r) !== oldHash)!;
    expect(fresh.spec.replicas).toBe(1);
    const pod = await waitFor('a Ready pod of the new ReplicaSet', async () => {
      const pods = await kube.list<Pod>('v1', 'Pod', ns, `${SELECTOR},pod-template-hash=${hashOf(fresh)}`);
      return pods.find(isReady);
    }, 120_000);
    expect(pod.spec.containers[0]!.env).toContainEqual({ name: 'PCM_LOG_LEVEL', value: 'debug' });
    expect(helm.ok(['history', RELEASE, '-n', ns, '--max', '10'])).toMatch(/3\s+.*deployed/);
  });

  it('helm uninstall removes what the chart made; the CRD and the user PCMCluster stay', async () => {
    await kube.create(userCluster as KubeObject);
    helm.ok(['uninstall', RELEASE, '-n', ns, '--wait', '--timeout', '120s'], 180_000);

    const gone: [string, string, string, string | undefined][] = [
      ['apps/v1', 'Deployment', OPERATOR, ns],
      ['v1', 'ServiceAccount', OPERATOR, ns],
      ['rbac.authorization.k8s.io/v1', 'Role', `${OPERATOR}-leader-election`, ns],
      ['rbac.authorization.k8s.io/v1', 'RoleBinding', `${OPERATOR}-leader-election`, ns],
      ['rbac.authorization.k8s.io/v1', 'ClusterRole', clusterRoleName, undefined],
      ['rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', clusterRoleName, undefined],
    ];
    for (const [apiVersion, kind, name, namespace] of gone) {
      await waitFor(`${kind}/${name} deleted`, async () => ((await kube.get(apiVersion, kind, name, namespace)) === undefined ? true : undefined), 60_000);
    }
    await waitFor('operator pods gone', async () => ((await kube.list('v1', 'Pod', ns, SELECTOR)).length === 0 ? true : undefined), 90_000);
    expect(await kube.get('apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'pcmclusters.pcm.dev')).toBeDefined();
    expect(await kube.get('pcm.dev/v1alpha1', 'PCMCluster', userCluster.metadata.name, ns)).toBeDefined();
    // And the ServiceAccount's rights went with the bindings.
    expect(await kube.can(`system:serviceaccount:${ns}:${OPERATOR}`, [], { verb: 'list', group: 'pcm.dev', resource: 'pcmclusters', namespace: ns })).toBe(false);
  });
});
