import Fastify from 'fastify';
import { describe, expect, it, vi } from 'vitest';
import { createLogger } from './logger.js';
import { lazyChildLoggerFactory } from './lazy-child-logger.js';

function capture() {
  const lines: any[] = [];
  return { lines, stream: { write: (s: string) => void lines.push(JSON.parse(s)) } };
}

describe('lazyChildLoggerFactory', () => {
  it('makes no pino child until a request logs at an enabled level; then logs with the request id, redacted', async () => {
    const { lines, stream } = capture();
    const logger = createLogger('test', 'info', {}, stream);
    const childSpy = vi.spyOn(logger, 'child');
    const app = Fastify({ loggerInstance: logger, childLoggerFactory: lazyChildLoggerFactory as never, disableRequestLogging: true });
    app.get('/quiet', async (req) => {
      req.log.debug({ detail: 1 }, 'below the level');
      return { ok: true };
    });
    app.get('/loud', async (req) => {
      req.log.info({ authorization: 'Bearer secret-token-value' }, 'hello');
      req.log.info('again');
      return { ok: true };
    });
    try {
      await app.ready();
      childSpy.mockClear(); // fastify's own setup children are not per request
      expect((await app.inject('/quiet')).statusCode).toBe(200);
      expect(childSpy).not.toHaveBeenCalled();
      expect(lines).toHaveLength(0);
      expect((await app.inject('/loud')).statusCode).toBe(200);
      expect(childSpy).toHaveBeenCalledTimes(1); // once per request that logs, reused after
      expect(lines.map((l) => l.msg)).toEqual(['hello', 'again']);
      expect(lines[0].reqId).toBeDefined();
      expect(lines[1].reqId).toBe(lines[0].reqId);
      expect(JSON.stringify(lines[0])).not.toContain('secret-token-value');
    } finally {
      await app.close();
    }
  });
});
