import { describe, expect, it } from 'vitest';
import { sampleCluster } from '../testing.js';
import { desiredAssignmentsConfigMap, hostFor, publicUrls, readPublished } from './assignments-configmap.js';
import { desiredGatewayStatefulSet } from './gateway-statefulset.js';
import { desiredGatewayMqttService } from './gateway-mqtt-service.js';
import { desiredGatewayHeadlessService } from './gateway-headless-service.js';
import { desiredGatewayPdb } from './gateway-pdb.js';
import { desiredDiscoveryDeployment } from './discovery-deployment.js';
import { desiredDiscoveryRole } from './discovery-role.js';
import { parseGatewaySnapshot } from '../../../discovery/sources/snapshot.js';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('builders (pure desiredX(cluster))', () => {
  const cluster = sampleCluster({ kafka: { brokers: ['kafka:9092'] }, couchbase: { connectionString: 'couchbase://cb', bucket: 'pcm', credentialsSecret: 'cb-creds' } });

  it('gateway StatefulSet: stable ids from the pod name, assignments mounted, owner reference, replicas from the plan', () => {
    const sts = desiredGatewayStatefulSet(cluster, 4) as Any;
    expect(sts.metadata).toMatchObject({ name: 'demo-gateway', namespace: 'pcm', ownerReferences: [{ kind: 'PCMCluster', name: 'demo', uid: 'uid-1', controller: true }] });
    expect(sts.spec.replicas).toBe(4);
    expect(sts.spec.serviceName).toBe('demo-gateway-headless');
    const c = sts.spec.template.spec.containers[0];
    const env = Object.fromEntries(c.env.map((e: Any) => [e.name, e.value ?? e.valueFrom]));
    expect(env.PCM_GATEWAY_ID).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(env.PCM_ASSIGNMENTS_FILE).toBe('/etc/pcm/assignments/gateways.json');
    expect(env.PCM_KAFKA_BROKERS).toBe('kafka:9092');
    expect(env.PCM_COUCHBASE_PASSWORD).toEqual({ secretKeyRef: { name: 'cb-creds', key: 'password' } });
    expect(env.PCM_TERMINAL_JWT_SECRET).toEqual({ secretKeyRef: { name: 'demo-auth', key: 'jwtSecret' } }); // default auth Secret
    expect(env.PCM_API_KEYS).toEqual({ secretKeyRef: { name: 'demo-auth', key: 'apiKeys' } });
    const withAuth = desiredGatewayStatefulSet(sampleCluster({ auth: { secretName: 'fleet-keys' } }), 1) as Any;
    expect(withAuth.spec.template.spec.containers[0].env.find((e: Any) => e.name === 'PCM_API_KEYS').valueFrom.secretKeyRef.name).toBe('fleet-keys');
    expect(sts.spec.template.spec.volumes).toEqual([{ name: 'assignments', configMap: { name: 'demo-assignments' } }, { name: 'tmp', emptyDir: {} }, { name: 'data', emptyDir: {} }]);
    expect(sts.spec.selector.matchLabels).toEqual(sts.spec.template.metadata.labels && { 'app.kubernetes.io/name': 'pcm', 'app.kubernetes.io/instance': 'demo', 'app.kubernetes.io/component': 'gateway' });
  });

  it('optional resources exist only when the spec asks for them', () => {
    expect(desiredGatewayMqttService(sampleCluster({ gateways: { protocols: ['websocket'] } }))).toBeUndefined();
    expect((desiredGatewayMqttService(cluster) as Any).spec.ports).toEqual([{ name: 'mqtt', port: 1883, targetPort: 'mqtt', protocol: 'TCP' }]);
    expect(desiredGatewayPdb(sampleCluster({ gateways: { replicas: 1 } }))).toBeUndefined();
    expect((desiredGatewayPdb(cluster) as Any).spec.maxUnavailable).toBe(1);
    expect(desiredDiscoveryDeployment(sampleCluster({ discovery: { replicas: 0 } }))).toBeUndefined();
    expect((desiredGatewayHeadlessService(cluster) as Any).spec.clusterIP).toBe('None');
  });

  it('discovery watches the assignments ConfigMap with a role limited to it', () => {
    const d = desiredDiscoveryDeployment(cluster) as Any;
    const env = Object.fromEntries(d.spec.template.spec.containers[0].env.map((e: Any) => [e.name, e.value ?? e.valueFrom]));
    expect(env.PCM_GATEWAYS_CONFIG_MAP).toBe('demo-assignments');
    expect(env.PCM_DISCOVERY_POLL_SECONDS).toBe('300');
    expect((desiredDiscoveryRole(cluster) as Any).rules).toEqual([{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['demo-assignments'], verbs: ['get', 'list', 'watch'] }]);
  });

  it('public URLs come from the host template', () => {
    expect(hostFor('gw-{ordinal}.pcm.example.com', 7)).toBe('gw-7.pcm.example.com');
    expect(publicUrls(cluster, 2)).toEqual({ websocketUrl: 'wss://gw-2.pcm.example.com/v1/connect', mqttUrl: 'mqtts://gw-2.pcm.example.com:8883' });
    const plain = sampleCluster({ gateways: { public: { hostTemplate: '{ordinal}.gw.local', tls: false, websocketPort: 8080, mqttPort: 1883 } } });
    expect(publicUrls(plain, 0)).toEqual({ websocketUrl: 'ws://0.gw.local:8080/v1/connect', mqttUrl: 'mqtt://0.gw.local:1883' });
  });

  it('assignments: discovery parses the document; the generation changes only with the content', () => {
    const members = [0, 1, 2].map((ordinal) => ({ ordinal, draining: ordinal === 2, ...(ordinal === 2 ? { drainDeadline: '2026-11-27T00:01:00.000Z' } : {}) }));
    const first = desiredAssignmentsConfigMap(cluster, members, undefined);
    expect(first.document.generation).toBe(1);
    const snap = parseGatewaySnapshot((first.object.data as Any)['gateways.json'], 0);
    expect(snap.generation).toBe(1);
    expect(snap.gateways.map((g) => [g.id, g.draining])).toEqual([['demo-gateway-0', false], ['demo-gateway-1', false], ['demo-gateway-2', true]]);

    const read = readPublished(first.object, undefined);
    expect(read.deadlines.get(2)).toBe('2026-11-27T00:01:00.000Z');
    const same = desiredAssignmentsConfigMap(cluster, members, read.previous);
    expect(same.document.generation).toBe(1);
    expect(same.object).toEqual(first.object);
    const changed = desiredAssignmentsConfigMap(cluster, members.slice(0, 2), read.previous);
    expect(changed.document.generation).toBe(2);
    // the CR status remembers the counter if the ConfigMap is deleted: never goes backwards
    expect(desiredAssignmentsConfigMap(cluster, members, readPublished(undefined, 7).previous).document.generation).toBe(8);
  });
});
