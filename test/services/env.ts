import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/**
 * Connection details of the real services started by `npm run services -- up`
 * (test/services/pcm-services). Each service writes `<name>.env` into the services dir;
 * tests read them all (later files win).
 */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const servicesDir = process.env.PCM_SERVICES_DIR ?? path.join(repoRoot, '.pcm-services');
export const servicesEnvFile = path.join(servicesDir, '*.env');

export function readServicesEnv(): Record<string, string> {
  if (!existsSync(servicesDir)) return {};
  const out: Record<string, string> = {};
  for (const file of readdirSync(servicesDir).filter((f) => f.endsWith('.env')).sort()) {
    for (const line of readFileSync(path.join(servicesDir, file), 'utf8').split('\n')) {
      const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
      if (m) out[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
    }
  }
  return out;
}

export const isCI = process.env.CI === 'true' || process.env.CI === '1';

/**
 * Returns the service's variables, or undefined when it is not running. In CI a missing
 * service throws (a failure, never a skip); outside CI the caller skips with the printed reason.
 * Usage: `const kafka = needService('kafka', ['PCM_TEST_KAFKA_BROKERS']); describe.skipIf(!kafka)(...)`
 */
export function needService(name: string, vars: string[]): Record<string, string> | undefined {
  const env = { ...readServicesEnv(), ...pick(process.env, vars) };
  const missing = vars.filter((v) => !env[v]);
  if (missing.length === 0) return env;
  const reason = `service "${name}" is not running (missing ${missing.join(', ')} in ${servicesEnvFile}); start it with: npm run services -- up ${name}`;
  if (isCI) throw new Error(`CI: ${reason}`);
  console.warn(`SKIP: ${reason}`);
  return undefined;
}

function pick(src: NodeJS.ProcessEnv, keys: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) if (src[k]) out[k] = src[k]!;
  return out;
}
