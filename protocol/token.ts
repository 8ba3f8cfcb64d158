import { webcrypto } from 'node:crypto';
import { SignJWT, decodeProtectedHeader } from 'jose';
import { createVerifier, TokenError } from 'fast-jwt';
import { PcmError } from '../common/errors.js';
import { isValidTerminalId } from './terminal-id.js';

/**
 * Terminal identity (DESIGN.md section 5): HS256 JWT, `sub` = terminal id, `exp` required.
 *
 * Hardening (issue 8, docs/security.md):
 * - the algorithm is pinned to HS256: `alg: none`, RS256/ES256 or any other header is refused
 *   before a signature is even looked at, so a public key can never be used as an HMAC secret;
 * - `exp` and `sub` are required, `nbf` (when present) is honoured, with a 5 s clock
 *   tolerance for skew between the token minter and the gateways;
 * - key rotation: the configured secret may be a key ring `new,old[,older]` (comma-separated).
 *   Tokens are signed with the first secret and verified against every one, so an operator
 *   adds the new secret in front, waits until every terminal holds a token signed with it
 *   (token lifetime), then drops the old one. Secrets therefore cannot contain commas.
 */
export interface TerminalClaims {
  terminalId: string;
  expiresAt: number; // epoch seconds
}

/** A secret or a key ring: a comma-separated string, or a list. The first entry signs. */
export type TerminalSecret = string | readonly string[];

/**
 * Seconds of clock skew tolerated on `exp` and `nbf`: enough for NTP-synced hosts (a token
 * minted with `nbf = now` by a backend a second ahead still works), small enough that an
 * expired token stops working almost at once.
 */
export const TOKEN_CLOCK_TOLERANCE_SECONDS = 5;

const encoder = new TextEncoder();

/**
 * Something built once per key ring (one entry per secret), cached by the ring's text. Bounded:
 * a process holds one or two rings. An empty ring is a configuration error.
 */
function perRing<T>(cache: Map<string, T>, secret: TerminalSecret, build: (ring: string[]) => T): T {
  const id = typeof secret === 'string' ? secret : secret.join(',');
  let v = cache.get(id);
  if (v === undefined) {
    const ring = secretRing(secret);
    if (ring.length === 0) throw new PcmError('PCM_ERR_CONFIG', 'invalid configuration: the terminal JWT secret is empty');
    v = build(ring);
    if (cache.size > 64) cache.clear();
    cache.set(id, v);
  }
  return v;
}

type Verifier = (token: string) => { sub?: unknown; exp?: number };
/**
 * Verifiers per ring. Every terminal connect and every discovery request verifies a token, so
 * this is fast-jwt's synchronous node:crypto HMAC, not WebCrypto (jose): a WebCrypto verify is
 * an async job of about 35-45 us of CPU even with the key imported once (bench/hot-path.bench.ts).
 */
const verifierCache = new Map<string, Verifier[]>();
const verifiers = (secret: TerminalSecret): Verifier[] =>
  perRing(verifierCache, secret, (ring) =>
    ring.map((key) => createVerifier({ key, algorithms: ['HS256'], requiredClaims: ['exp', 'sub'], clockTolerance: TOKEN_CLOCK_TOLERANCE_SECONDS * 1000 })),
  );

/** The first secret of the ring as an HMAC signing key, imported into WebCrypto once (jose mints). */
const signingKeyCache = new Map<string, Promise<webcrypto.CryptoKey>>();
const signingKey = (secret: TerminalSecret): Promise<webcrypto.CryptoKey> =>
  perRing(signingKeyCache, secret, (ring) => webcrypto.subtle.importKey('raw', encoder.encode(ring[0]!), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']));

/** Splits a key ring into its secrets, dropping blanks; the first one signs. */
export function secretRing(secret: TerminalSecret): string[] {
  const list = typeof secret === 'string' ? secret.split(',') : [...secret];
  return list.map((s) => s.trim()).filter((s) => s.length > 0);
}

export interface MintOptions {
  /** Epoch seconds before which the token is not valid (`nbf`). */
  notBefore?: number;
}

export async function mintTerminalToken(secret: TerminalSecret, terminalId: string, ttlSeconds = 24 * 3600, opts: MintOptions = {}): Promise<string> {
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(terminalId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds);
  if (opts.notBefore !== undefined) jwt.setNotBefore(opts.notBefore);
  return jwt.sign(await signingKey(secret));
}

/**
 * Verifies a terminal token against every secret of the ring. Only PcmErrors escape:
 * PCM_ERR_TOKEN_EXPIRED for an expired token, PCM_ERR_UNAUTHORIZED for everything else
 * (wrong algorithm, bad signature, not yet valid, missing claims, bad subject).
 */
export async function verifyTerminalToken(secret: TerminalSecret, token: string | undefined): Promise<TerminalClaims> {
  if (!token) throw new PcmError('PCM_ERR_UNAUTHORIZED', 'missing terminal token');
  let header;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new PcmError('PCM_ERR_UNAUTHORIZED', 'invalid terminal token');
  }
  if (header.alg !== 'HS256') throw new PcmError('PCM_ERR_UNAUTHORIZED', `terminal token algorithm ${JSON.stringify(header.alg ?? null)} is not allowed; only HS256`);
  for (const verify of verifiers(secret)) {
    let payload;
    try {
      payload = verify(token);
    } catch (err) {
      // A signature that does not match this secret may match the next one of the ring;
      // any other failure (expired, nbf, claims) is a property of the token itself.
      const code = err instanceof TokenError ? err.code : undefined;
      if (code === TokenError.codes.invalidSignature) continue;
      if (code === TokenError.codes.expired) throw new PcmError('PCM_ERR_TOKEN_EXPIRED', 'terminal token has expired');
      if (code === TokenError.codes.inactive) throw new PcmError('PCM_ERR_UNAUTHORIZED', 'terminal token is not valid yet (nbf)');
      throw new PcmError('PCM_ERR_UNAUTHORIZED', 'invalid terminal token');
    }
    if (!isValidTerminalId(payload.sub)) throw new PcmError('PCM_ERR_UNAUTHORIZED', 'token subject is not a valid terminal id');
    return { terminalId: payload.sub, expiresAt: payload.exp! };
  }
  throw new PcmError('PCM_ERR_UNAUTHORIZED', 'invalid terminal token');
}

/** Extracts a bearer token from an Authorization header value. */
export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  return m ? m[1]!.trim() : undefined;
}
