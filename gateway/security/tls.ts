import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { PcmError } from '../../common/errors.js';

/**
 * TLS material for wss (the gateway HTTP port as HTTPS) and mqtts (issue 8, docs/security.md).
 * Files are read once at start; a missing file or a key that does not match the certificate
 * fails the start with PCM_ERR_CONFIG naming the setting, instead of failing the first handshake.
 */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** Optional PEM bundle of intermediate/root certificates sent with the server certificate. */
  caFile?: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  /** Floor protocol version: TLS 1.2 (1.0/1.1 are refused). */
  minVersion: 'TLSv1.2';
}

function read(file: string, setting: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new PcmError('PCM_ERR_CONFIG', `invalid configuration: ${setting} (${file}) cannot be read: ${(err as Error).message}`, { details: { field: setting } });
  }
}

export function loadTlsMaterial(files: TlsFiles): TlsMaterial {
  const m: TlsMaterial = {
    cert: read(files.certFile, 'PCM_TLS_CERT_FILE'),
    key: read(files.keyFile, 'PCM_TLS_KEY_FILE'),
    minVersion: 'TLSv1.2',
  };
  if (files.caFile) m.ca = read(files.caFile, 'PCM_TLS_CA_FILE');
  try {
    createSecureContext(m);
  } catch (err) {
    throw new PcmError('PCM_ERR_CONFIG', `invalid configuration: PCM_TLS_CERT_FILE/PCM_TLS_KEY_FILE do not form a usable certificate and key: ${(err as Error).message}`, {
      details: { field: 'tlsCertFile' },
    });
  }
  return m;
}

/** TLS is on when both a certificate and a key are configured; one without the other is an error. */
export function tlsFromConfig(c: { tlsCertFile?: string; tlsKeyFile?: string; tlsCaFile?: string }): TlsMaterial | undefined {
  const cert = c.tlsCertFile ?? '';
  const key = c.tlsKeyFile ?? '';
  if (!cert && !key) return undefined;
  if (!cert || !key) {
    throw new PcmError('PCM_ERR_CONFIG', 'invalid configuration: PCM_TLS_CERT_FILE and PCM_TLS_KEY_FILE must be given together', { details: { field: cert ? 'tlsKeyFile' : 'tlsCertFile' } });
  }
  return loadTlsMaterial({ certFile: cert, keyFile: key, caFile: c.tlsCaFile || undefined });
}
