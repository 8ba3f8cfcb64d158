import type { FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';

const NO_LIMIT = { config: { rateLimit: false } } as const;
const FILES = { 'index.html': 'text/html; charset=utf-8', 'app.js': 'text/javascript; charset=utf-8', 'style.css': 'text/css; charset=utf-8' } as const;

/**
 * The Mission Control page (issue 9): three static files read once at start, served without
 * auth (they hold no data; every data call needs an admin key). Strict CSP: same origin only.
 */
export function registerMissionControlPage(app: FastifyInstance): void {
  const body = Object.fromEntries(Object.keys(FILES).map((f) => [f, readFileSync(new URL(`./static/${f}`, import.meta.url))])) as Record<keyof typeof FILES, Buffer>;
  const serve = (file: keyof typeof FILES) => async (_req: unknown, reply: import('fastify').FastifyReply) => {
    void reply.header('content-type', FILES[file]).header('content-security-policy', "default-src 'self'").header('cache-control', 'no-cache');
    return body[file];
  };
  const hide = { summary: 'Mission Control web console', hide: true };
  app.get('/mission-control', { ...NO_LIMIT, schema: hide }, serve('index.html'));
  app.get('/mission-control/app.js', { ...NO_LIMIT, schema: hide }, serve('app.js'));
  app.get('/mission-control/style.css', { ...NO_LIMIT, schema: hide }, serve('style.css'));
}

export const MISSION_CONTROL_PAGE_ROUTES = ['/mission-control', '/mission-control/app.js', '/mission-control/style.css'];
