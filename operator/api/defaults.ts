import { Value } from 'typebox/value';
import { PcmError } from '../../common/errors.js';
import { PCMClusterSpecSchema, type PCMClusterSpec } from './schema.js';

/**
 * The API server already applies the CRD defaults and validation; the operator applies the
 * same schema again (same source, schema.ts) so a spec read from an older stored object, a
 * unit test or a file has exactly the shape the builders expect.
 */
export function withDefaults(spec: unknown): PCMClusterSpec {
  const value = Value.Default(PCMClusterSpecSchema, structuredClone(spec ?? {}));
  const errors = [...Value.Errors(PCMClusterSpecSchema, value)];
  if (errors.length > 0) {
    const e = errors[0]!;
    throw new PcmError('PCM_ERR_CONFIG', `PCMCluster spec${e.instancePath.replace(/\//g, '.')}: ${e.message}`, {
      details: { errors: errors.slice(0, 10).map((x) => ({ path: x.instancePath, message: x.message })) },
    });
  }
  return value as PCMClusterSpec;
}
