import { describe, expect, it } from 'vitest';
import { envName } from '../../../common/config.js';
import { GatewayConfigSchema } from '../../../gateway/config.js';
import { DiscoveryConfigSchema } from '../../../discovery/config.js';
import { sampleCluster } from '../testing.js';
import { desiredGatewayStatefulSet } from './gateway-statefulset.js';
import { desiredDiscoveryDeployment } from './discovery-deployment.js';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * Drift guard (DESIGN.md section 7: one config schema per process): every variable the
 * operator sets on a gateway or discovery pod must be a key of that process's schema
 * (PCM_<NAME> or PCM_<NAME>_FILE), else the pod silently runs on a default.
 */
const known = (schema: { properties: Record<string, unknown> }) => Object.keys(schema.properties).flatMap((k) => [envName(k), `${envName(k)}_FILE`]);
const envOf = (obj: Any): string[] => obj.spec.template.spec.containers[0].env.map((e: Any) => e.name as string);

describe('pod env matches the process config schemas', () => {
  // Every optional block on, so every variable the builders can emit is checked.
  const cluster = sampleCluster({
    kafka: { brokers: ['kafka:9092'] },
    couchbase: { connectionString: 'couchbase://cb', bucket: 'pcm', credentialsSecret: 'cb-creds' },
    auth: { secretName: 'fleet-keys' },
  });

  it('gateway StatefulSet env is a subset of gateway/config.ts', () => {
    const set = envOf(desiredGatewayStatefulSet(cluster, 3) as Any);
    expect(set).toEqual(expect.arrayContaining(['PCM_GATEWAY_ID', 'PCM_ASSIGNMENTS_FILE', 'PCM_DRAIN_SECONDS', 'PCM_COUCHBASE_CONNECTION_STRING', 'PCM_COUCHBASE_PASSWORD', 'PCM_KAFKA_BROKERS']));
    expect(set.filter((n) => !known(GatewayConfigSchema).includes(n))).toEqual([]);
  });

  it('spec.limits and spec.couchbase reach the gateway env', () => {
    const envOfCluster = (c: ReturnType<typeof sampleCluster>) =>
      Object.fromEntries(((desiredGatewayStatefulSet(c, 1) as Any).spec.template.spec.containers[0].env as Any[]).map((e) => [e.name, e.value]));
    const c = sampleCluster({
      limits: { maxTtlSeconds: 600, maxPayloadBytes: 1024, maxPendingPerTerminal: 250 },
      couchbase: { connectionString: 'couchbase://cb', bucket: 'pcm', scope: 'fleet', collection: 'queues', durability: 'majority' },
    });
    expect(envOfCluster(c)).toMatchObject({
      PCM_MAX_TTL_SECONDS: '600',
      PCM_MAX_PAYLOAD_BYTES: '1024',
      PCM_MAX_PENDING_PER_TERMINAL: '250',
      PCM_COUCHBASE_SCOPE: 'fleet',
      PCM_COUCHBASE_COLLECTION: 'queues',
      PCM_COUCHBASE_DURABILITY: 'majority',
    });
    // omitted: the CRD defaults, which are the gateway's own defaults
    expect(envOfCluster(sampleCluster({ couchbase: { connectionString: 'couchbase://cb', bucket: 'pcm' } }))).toMatchObject({
      PCM_COUCHBASE_SCOPE: '_default',
      PCM_COUCHBASE_COLLECTION: '_default',
      PCM_COUCHBASE_DURABILITY: 'none',
    });
  });

  it('discovery Deployment env is a subset of discovery/config.ts', () => {
    const set = envOf(desiredDiscoveryDeployment(cluster) as Any);
    expect(set).toContain('PCM_GATEWAYS_CONFIG_MAP');
    expect(set.filter((n) => !known(DiscoveryConfigSchema).includes(n))).toEqual([]);
  });

  it('gateway and discovery pods are locked down: non-root, read-only root fs with /tmp emptyDir, no escalation, drop ALL', () => {
    for (const obj of [desiredGatewayStatefulSet(cluster, 1) as Any, desiredDiscoveryDeployment(cluster) as Any]) {
      const ps = obj.spec.template.spec;
      const c = ps.containers[0];
      expect(ps.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(ps.volumes).toEqual(expect.arrayContaining([{ name: 'tmp', emptyDir: {} }]));
      expect(c.volumeMounts).toEqual(expect.arrayContaining([{ name: 'tmp', mountPath: '/tmp' }]));
    }
  });
});
