import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { PcmError } from '../common/errors.js';
import { isValidTerminalId } from './terminal-id.js';

/**
 * Terminal identity (DESIGN.md section 5): HS256 JWT, `sub` = terminal id, `exp` required.
 */
export interface TerminalClaims {
  terminalId: string;
  expiresAt: number; // epoch seconds
}

const encoder = new TextEncoder();
const keyCache = new Map<string, Uint8Array>();
function key(secret: string): Uint8Array {
  let k = keyCache.get(secret);
  if (!k) {
    k = encoder.encode(secret);
    keyCache.set(secret, k);
  }
  return k;
}

export async function mintTerminalToken(secret: string, terminalId: string, ttlSeconds = 24 * 3600): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(terminalId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(key(secret));
}

export async function verifyTerminalToken(secret: string, token: string | undefined): Promise<TerminalClaims> {
  if (!token) throw new PcmError('PCM_ERR_UNAUTHORIZED', 'missing terminal token');
  try {
    const { payload } = await jwtVerify(token, key(secret), { algorithms: ['HS256'], requiredClaims: ['exp', 'sub'] });
    if (!isValidTerminalId(payload.sub)) throw new PcmError('PCM_ERR_UNAUTHORIZED', 'token subject is not a valid terminal id');
    return { terminalId: payload.sub, expiresAt: payload.exp! };
  } catch (err) {
    if (err instanceof PcmError) throw err;
    if (err instanceof joseErrors.JWTExpired) throw new PcmError('PCM_ERR_TOKEN_EXPIRED', 'terminal token has expired');
    throw new PcmError('PCM_ERR_UNAUTHORIZED', 'invalid terminal token');
  }
}

/** Extracts a bearer token from an Authorization header value. */
export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  return m ? m[1]!.trim() : undefined;
}
