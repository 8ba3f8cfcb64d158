import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PcmError } from '../common/errors.js';

/**
 * `pcm dev` secrets (issue 2 item 2): with no PCM_TERMINAL_JWT_SECRET / PCM_API_KEYS configured,
 * dev generates both once into `<dataDir>/dev-secrets.json` (mode 0600) and reuses them, so
 * tokens and keys printed yesterday still work today. `pcm send`, `pcm request` and
 * `pcm token` read the same file when no key or secret is given.
 */
export interface DevSecrets {
  terminalJwtSecret: string;
  apiKey: string;
  createdAt: string;
}

export const DEV_SECRETS_FILE = 'dev-secrets.json';

export function devSecretsPath(dataDir: string): string {
  return path.resolve(dataDir, DEV_SECRETS_FILE);
}

export function readDevSecrets(dataDir: string): DevSecrets | undefined {
  const file = devSecretsPath(dataDir);
  if (!existsSync(file)) return undefined;
  let parsed: Partial<DevSecrets>;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<DevSecrets>;
  } catch (err) {
    throw new PcmError('PCM_ERR_CONFIG', `invalid configuration: ${file} is not valid JSON (${(err as Error).message}); delete it to generate new dev secrets`);
  }
  if (typeof parsed.terminalJwtSecret !== 'string' || parsed.terminalJwtSecret.length < 16 || typeof parsed.apiKey !== 'string' || parsed.apiKey.length < 8) {
    throw new PcmError('PCM_ERR_CONFIG', `invalid configuration: ${file} lacks terminalJwtSecret/apiKey; delete it to generate new dev secrets`);
  }
  return parsed as DevSecrets;
}

export function loadOrCreateDevSecrets(dataDir: string): { secrets: DevSecrets; created: boolean; file: string } {
  const file = devSecretsPath(dataDir);
  const existing = readDevSecrets(dataDir);
  if (existing) return { secrets: existing, created: false, file };
  const secrets: DevSecrets = {
    terminalJwtSecret: randomBytes(32).toString('base64url'),
    apiKey: `pcm_dev_${randomBytes(18).toString('base64url')}`,
    createdAt: new Date().toISOString(),
  };
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return { secrets, created: true, file };
}
