import { withDefaults } from '../api/defaults.js';
import type { PCMCluster } from '../api/schema.js';

/** A defaulted PCMCluster for the pure unit tests (no API server). */
export function sampleCluster(spec: Record<string, unknown> = {}, meta: Partial<PCMCluster['metadata']> = {}): PCMCluster {
  const gateways = { image: 'ghcr.io/pcm/pcm:0.1.0', public: { hostTemplate: 'gw-{ordinal}.pcm.example.com' }, ...((spec.gateways as object) ?? {}) };
  return {
    apiVersion: 'pcm.dev/v1alpha1',
    kind: 'PCMCluster',
    metadata: { name: 'demo', namespace: 'pcm', uid: 'uid-1', generation: 1, ...meta },
    spec: withDefaults({ ...spec, gateways }),
  };
}
