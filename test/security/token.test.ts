import { describe, expect, it } from 'vitest';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { SignJWT, importPKCS8 } from 'jose';
import { isPcmError, type PcmError } from '../../common/errors.js';
import { mintTerminalToken, secretRing, verifyTerminalToken } from '../../protocol/token.js';

const NEW = 'new-secret-0123456789abcdef';
const OLD = 'old-secret-0123456789abcdef';
const now = () => Math.floor(Date.now() / 1000);
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

async function refused(p: Promise<unknown>): Promise<PcmError> {
  try {
    await p;
  } catch (err) {
    if (isPcmError(err)) return err;
    throw err;
  }
  throw new Error('token was accepted');
}

describe('terminal JWT verification (issue 8: exp, nbf, pinned algorithm, rotation)', () => {
  it('accepts a fresh HS256 token and returns its subject', async () => {
    const claims = await verifyTerminalToken(NEW, await mintTerminalToken(NEW, 'term-1', 60));
    expect(claims.terminalId).toBe('term-1');
    expect(claims.expiresAt).toBeGreaterThan(now());
  });

  it('refuses a token without exp', async () => {
    const t = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('term-1').sign(new TextEncoder().encode(NEW));
    expect((await refused(verifyTerminalToken(NEW, t))).code).toBe('PCM_ERR_UNAUTHORIZED');
  });

  it('refuses an expired token (beyond the 5 s skew tolerance) with PCM_ERR_TOKEN_EXPIRED', async () => {
    const t = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('term-1').setExpirationTime(now() - 120).sign(new TextEncoder().encode(NEW));
    expect((await refused(verifyTerminalToken(NEW, t))).code).toBe('PCM_ERR_TOKEN_EXPIRED');
  });

  it('checks the signature before the claims: an expired token under a wrong secret is invalid, not "expired"', async () => {
    const forged = await mintTerminalToken('some-other-secret-0123456789', 'term-1', -120);
    expect(await refused(verifyTerminalToken(NEW, forged))).toMatchObject({ code: 'PCM_ERR_UNAUTHORIZED', message: 'invalid terminal token' });
  });

  it('refuses a non-numeric exp and a tampered signature', async () => {
    const header = b64({ alg: 'HS256', typ: 'JWT' });
    const body = b64({ sub: 'term-1', exp: String(now() + 600) });
    const sig = createHmac('sha256', NEW).update(`${header}.${body}`).digest('base64url');
    expect((await refused(verifyTerminalToken(NEW, `${header}.${body}.${sig}`))).code).toBe('PCM_ERR_UNAUTHORIZED');
    const good = await mintTerminalToken(NEW, 'term-1', 60);
    const tampered = `${good.slice(0, good.lastIndexOf('.') + 1)}${'A'.repeat(43)}`;
    expect((await refused(verifyTerminalToken(NEW, tampered))).code).toBe('PCM_ERR_UNAUTHORIZED');
  });

  it('honours nbf: a token valid only from the future is refused, one valid from the past is accepted', async () => {
    const future = await mintTerminalToken(NEW, 'term-1', 3600, { notBefore: now() + 600 });
    const e = await refused(verifyTerminalToken(NEW, future));
    expect(e.code).toBe('PCM_ERR_UNAUTHORIZED');
    expect(e.message).toMatch(/nbf/);
    const past = await mintTerminalToken(NEW, 'term-1', 3600, { notBefore: now() - 5 });
    expect((await verifyTerminalToken(NEW, past)).terminalId).toBe('term-1');
  });

  it('refuses alg none (unsigned token)', async () => {
    const t = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'term-1', exp: now() + 60 })}.`;
    const e = await refused(verifyTerminalToken(NEW, t));
    expect(e.code).toBe('PCM_ERR_UNAUTHORIZED');
    expect(e.message).toMatch(/algorithm "none" is not allowed/);
  });

  it('refuses HS512 and a hand-made "HS256-signed" token whose header says RS256', async () => {
    const hs512 = await new SignJWT({}).setProtectedHeader({ alg: 'HS512' }).setSubject('term-1').setExpirationTime(now() + 60).sign(new TextEncoder().encode(NEW + NEW + NEW));
    expect((await refused(verifyTerminalToken(NEW, hs512))).message).toMatch(/HS512/);
    // Algorithm-confusion attempt: header claims RS256, signature is an HMAC with the secret.
    const input = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ sub: 'term-1', exp: now() + 60 })}`;
    const sig = createHmac('sha256', NEW).update(input).digest('base64url');
    expect((await refused(verifyTerminalToken(NEW, `${input}.${sig}`))).message).toMatch(/RS256/);
  });

  it('refuses a genuine RS256 token', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pk = await importPKCS8(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'RS256');
    const t = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject('term-1').setExpirationTime(now() + 60).sign(pk);
    expect((await refused(verifyTerminalToken(NEW, t))).code).toBe('PCM_ERR_UNAUTHORIZED');
  });

  it('refuses garbage, a wrong secret, and a bad subject', async () => {
    for (const t of ['', 'abc', 'a.b.c', '....', `${b64({ alg: 'HS256' })}.!!!.x`]) {
      expect(isPcmError(await verifyTerminalToken(NEW, t).catch((e: unknown) => e))).toBe(true);
    }
    expect((await refused(verifyTerminalToken(NEW, await mintTerminalToken('other-secret-0123456789abcdef', 'term-1')))).code).toBe('PCM_ERR_UNAUTHORIZED');
    expect((await refused(verifyTerminalToken(NEW, await mintTerminalToken(NEW, 'bad id/..')))).message).toMatch(/subject/);
  });

  describe('key rotation with two active secrets', () => {
    const ring = `${NEW},${OLD}`;
    it('signs with the first secret of the ring', async () => {
      const t = await mintTerminalToken(ring, 'term-1');
      expect((await verifyTerminalToken(NEW, t)).terminalId).toBe('term-1');
      await refused(verifyTerminalToken(OLD, t));
    });
    it('verifies tokens signed with either secret, as a string ring or a list', async () => {
      for (const s of [NEW, OLD]) {
        const t = await mintTerminalToken(s, 'term-2');
        expect((await verifyTerminalToken(ring, t)).terminalId).toBe('term-2');
        expect((await verifyTerminalToken([NEW, OLD], t)).terminalId).toBe('term-2');
      }
    });
    it('once the old secret is dropped, its tokens are refused', async () => {
      const t = await mintTerminalToken(OLD, 'term-3');
      await refused(verifyTerminalToken(NEW, t));
    });
    it('an expired token signed with the second secret is still reported as expired', async () => {
      const t = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('term-1').setExpirationTime(now() - 120).sign(new TextEncoder().encode(OLD));
      expect((await refused(verifyTerminalToken(ring, t))).code).toBe('PCM_ERR_TOKEN_EXPIRED');
    });
    it('secretRing trims and drops blanks', () => {
      expect(secretRing(` ${NEW} , ,${OLD} `)).toEqual([NEW, OLD]);
    });
  });
});
