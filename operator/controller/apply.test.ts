import { describe, expect, it } from 'vitest';
import { isSubset, withDesiredHash, ANNOTATION_DESIRED_HASH } from './apply.js';

describe('generic apply comparison', () => {
  it('ignores server-side defaults but not changed values', () => {
    const want = { spec: { replicas: 3, ports: [{ name: 'http', port: 8080 }] } };
    const have = { spec: { replicas: 3, revisionHistoryLimit: 10, ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] } };
    expect(isSubset(want, have)).toBe(true);
    expect(isSubset({ spec: { replicas: 4 } }, have)).toBe(false);
    expect(isSubset({ spec: { ports: [] } }, have)).toBe(false); // list length matters
    expect(isSubset({ spec: { resources: { limits: { cpu: '1000m' } } } }, { spec: { resources: { limits: { cpu: '1' } } } })).toBe(true);
  });

  it('stamps a stable hash of the desired object', () => {
    const o = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'n' }, data: { b: '1', a: '2' } };
    const h1 = withDesiredHash(o).metadata.annotations![ANNOTATION_DESIRED_HASH];
    const h2 = withDesiredHash({ ...o, data: { a: '2', b: '1' } }).metadata.annotations![ANNOTATION_DESIRED_HASH];
    expect(h1).toBe(h2);
    expect(withDesiredHash({ ...o, data: { a: '3' } }).metadata.annotations![ANNOTATION_DESIRED_HASH]).not.toBe(h1);
  });
});
