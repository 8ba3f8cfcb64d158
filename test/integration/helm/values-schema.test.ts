/**
 * values.schema.json = values.schema.base.json + the PCMCluster spec schema of the CRD
 * (charts/pcm/sync-values-schema.ts). The CRD itself is generated from operator/api/schema.ts
 * and checked by operator/api/crd.test.ts; this keeps the chart's values schema from drifting
 * behind it. Fix a failure with: npx tsx charts/pcm/sync-values-schema.ts
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { VALUES_SCHEMA_FILE, renderValuesSchema } from '../../../charts/pcm/sync-values-schema.js';

describe('charts/pcm/values.schema.json', () => {
  it('is in sync with crds/pcmclusters.yaml (run: npx tsx charts/pcm/sync-values-schema.ts)', () => {
    expect(readFileSync(VALUES_SCHEMA_FILE, 'utf8')).toBe(renderValuesSchema());
  });

  it('takes the sample spec from the CRD, minus gateways.image (the chart fills it), closed to unknown fields', () => {
    const schema = JSON.parse(readFileSync(VALUES_SCHEMA_FILE, 'utf8'));
    const spec = schema.properties.sampleCluster.properties.spec;
    expect(spec.required).toEqual(['gateways']);
    expect(spec.properties.gateways.required).toEqual(['public']);
    expect(spec.properties.gateways.additionalProperties).toBe(false);
    expect(spec.properties.gateways.properties.protocols.items.enum).toEqual(['websocket', 'mqtt']);
    expect(JSON.stringify(spec)).not.toContain('x-kubernetes-');
  });
});
