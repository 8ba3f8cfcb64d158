import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import https from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import WebSocket from 'ws';
import mqtt from 'mqtt';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../common/logger.js';
import { loadConfig } from '../../common/config.js';
import { isPcmError } from '../../common/errors.js';
import { buildGateway, type Gateway } from '../../gateway/app.js';
import { GatewayConfigSchema } from '../../gateway/config.js';
import { MemoryMessageStore } from '../../gateway/adapters/memory/memory-store.js';
import { MemorySessionDirectory } from '../../gateway/adapters/memory/memory-directory.js';
import { InProcessRelayHub } from '../../gateway/adapters/inprocess/inprocess-relay.js';
import { loadTlsMaterial, tlsFromConfig } from '../../gateway/security/tls.js';
import { mintTerminalToken } from '../../protocol/token.js';
import { makeTestPki, type TestPki } from './pki.js';

const SECRET = randomBytes(24).toString('hex');
const API_KEY = 'tls-test-key-0123456789';

describe('TLS: wss and mqtts with configured certificates (issue 8)', () => {
  let pki: TestPki;
  let gw: Gateway;
  let httpPort: number;
  let mqttTlsPort: number;
  let mqttPort: number;

  beforeAll(async () => {
    pki = makeTestPki();
    const config = {
      ...loadConfig(GatewayConfigSchema, { env: { PCM_TERMINAL_JWT_SECRET: SECRET, PCM_API_KEYS: API_KEY } }),
      host: '127.0.0.1',
      httpPort: 0,
      mqttPort: 0,
      mqttTlsPort: 0,
    };
    const tls = tlsFromConfig({ tlsCertFile: pki.certFile, tlsKeyFile: pki.keyFile });
    gw = await buildGateway({ config, store: new MemoryMessageStore(), directory: new MemorySessionDirectory(), relay: new InProcessRelayHub().bus({ logger: silentLogger }), logger: silentLogger, tls });
    const bound = await gw.listen();
    httpPort = bound.httpPort;
    mqttPort = bound.mqttPort!;
    mqttTlsPort = bound.mqttTlsPort!;
  }, 60_000);
  afterAll(async () => {
    await gw?.close();
    pki?.cleanup();
  });

  const wss = (ca: Buffer | undefined, id: string, token: string) =>
    new Promise<{ frame?: any; error?: Error }>((resolve) => {
      const ws = new WebSocket(`wss://127.0.0.1:${httpPort}/v1/connect`, { headers: { authorization: `Bearer ${token}` }, ca });
      ws.once('message', (d) => {
        resolve({ frame: JSON.parse(d.toString()) });
        ws.close();
      });
      ws.once('error', (error) => resolve({ error }));
      void id;
    });

  it('a client trusting the CA gets a welcome over wss', async () => {
    const r = await wss(pki.ca, 'tls-1', await mintTerminalToken(SECRET, 'tls-1'));
    expect(r.error).toBeUndefined();
    expect(r.frame).toMatchObject({ type: 'welcome', terminalId: 'tls-1' });
  });

  it('a client trusting another CA (or only the system store) is refused the handshake over wss', async () => {
    const token = await mintTerminalToken(SECRET, 'tls-2');
    for (const ca of [pki.otherCa, undefined]) {
      const r = await wss(ca, 'tls-2', token);
      expect(r.frame).toBeUndefined();
      expect((r.error as NodeJS.ErrnoException).code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/);
    }
  });

  it('the sender API is served over HTTPS on the same port', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = https.request(
        { host: '127.0.0.1', port: httpPort, path: '/v1/terminals/tls-1/messages', method: 'POST', ca: pki.ca, headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' } },
        (res) => {
          res.resume();
          resolve(res.statusCode!);
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ payload: { over: 'tls' } }));
    });
    expect(status).toBe(202);
  });

  it('TLS 1.1 is refused (floor is TLS 1.2)', async () => {
    const err = await new Promise<Error | undefined>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port: httpPort, ca: pki.ca, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }, () => {
        s.end();
        resolve(undefined);
      });
      s.once('error', resolve);
    });
    expect(err).toBeDefined();
  });

  const mqtts = (ca: Buffer | undefined, id: string, token: string) =>
    new Promise<{ ok: boolean; error?: Error }>((resolve) => {
      const c = mqtt.connect(`mqtts://127.0.0.1:${mqttTlsPort}`, { protocolVersion: 4, clientId: id, username: id, password: token, reconnectPeriod: 0, connectTimeout: 3000, ca, rejectUnauthorized: true });
      c.once('connect', () => {
        c.end(true);
        resolve({ ok: true });
      });
      c.once('error', (error) => {
        c.end(true);
        resolve({ ok: false, error });
      });
    });

  it('a client trusting the CA connects over mqtts, and receives its message there', async () => {
    const token = await mintTerminalToken(SECRET, 'tls-m1');
    expect((await mqtts(pki.ca, 'tls-m1', token)).ok).toBe(true);
    const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${mqttTlsPort}`, { protocolVersion: 4, clientId: 'tls-m1', username: 'tls-m1', password: token, reconnectPeriod: 0, ca: pki.ca });
    try {
      const got = new Promise<any>((resolve) => c.on('message', (_t, p) => resolve(JSON.parse(p.toString()))));
      await c.subscribeAsync('pcm/t/tls-m1/messages', { qos: 1 });
      const res = await fetch(`https://127.0.0.1:${httpPort}`).catch((e: unknown) => e); // plain fetch does not trust the test CA
      expect(res).toBeInstanceOf(Error);
      await new Promise<void>((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: httpPort, path: '/v1/terminals/tls-m1/messages', method: 'POST', ca: pki.ca, headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' } }, (r) => {
          r.resume();
          resolve();
        });
        req.on('error', reject);
        req.end(JSON.stringify({ payload: 'hi-mqtts' }));
      });
      expect((await got).payload).toBe('hi-mqtts');
    } finally {
      await c.endAsync();
    }
  });

  it('a client not trusting the CA fails the mqtts handshake', async () => {
    const token = await mintTerminalToken(SECRET, 'tls-m2');
    for (const ca of [pki.otherCa, undefined]) {
      const r = await mqtts(ca, 'tls-m2', token);
      expect(r.ok).toBe(false);
      expect((r.error as NodeJS.ErrnoException).code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/);
    }
  });

  it('a plain-text MQTT client on the mqtts port gets no CONNACK; the plain port still works', async () => {
    const r = await new Promise<boolean>((resolve) => {
      const c = mqtt.connect(`mqtt://127.0.0.1:${mqttTlsPort}`, { protocolVersion: 4, clientId: 'x', reconnectPeriod: 0, connectTimeout: 1500 });
      c.once('connect', () => resolve(true));
      c.once('error', () => resolve(false));
      c.once('close', () => resolve(false));
    });
    expect(r).toBe(false);
    expect(mqttPort).toBeGreaterThan(0);
  });

  it('config errors: cert without key, unreadable file, key not matching the certificate', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return isPcmError(e) ? e.code : 'other';
      }
      return 'none';
    };
    expect(tlsFromConfig({})).toBeUndefined();
    expect(code(() => tlsFromConfig({ tlsCertFile: pki.certFile }))).toBe('PCM_ERR_CONFIG');
    expect(code(() => loadTlsMaterial({ certFile: pki.dir + '/nope.pem', keyFile: pki.keyFile }))).toBe('PCM_ERR_CONFIG');
    expect(code(() => loadTlsMaterial({ certFile: pki.certFile, keyFile: pki.otherKeyFile }))).toBe('PCM_ERR_CONFIG');
  });
});
