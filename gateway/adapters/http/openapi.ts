import type { FastifyInstance, RouteOptions } from 'fastify';
import swagger from '@fastify/swagger';

const NO_LIMIT = { config: { rateLimit: false } } as const;

export interface OpenApiInfo {
  title: string;
  version: string;
  description?: string;
}

/**
 * OpenAPI 3 from the route schemas (issue 9): must be registered before the routes it
 * documents (@fastify/swagger collects them in onRoute). Serves `/openapi.json` and `/docs`,
 * a self-contained page (no CDN: gateways often run without internet) that renders it.
 * Both are public: the document holds no secret, only the contract of DESIGN.md section 5.
 */
/**
 * What the document says about a schema, where that differs from what fastify validates with.
 * Some checks stay in the handlers on purpose, so a bad value gets its own stable code and the
 * order of checks of docs/security.md holds (a terminal id outside the alphabet is 400
 * PCM_ERR_INVALID_TERMINAL_ID, a bad ttlSeconds 400 PCM_ERR_INVALID_TTL): fastify validates
 * with the loose schema, the document shows the real rule so clients (and schemathesis, issue 8)
 * know it. Keyed by the runtime schema object: every route using it gets the documented form.
 */
const DOCUMENTED_AS = new WeakMap<object, object>();

/** Returns `runtime` after recording `documented` as the schema the OpenAPI document shows for it. */
export function documentAs<T extends object>(runtime: T, documented: object): T {
  DOCUMENTED_AS.set(runtime, documented);
  return runtime;
}

const SCHEMA_PARTS = ['params', 'body', 'querystring', 'headers'] as const;

function documentedSchema({ schema, url }: { schema: Record<string, unknown> | undefined; url: string }): { schema: Record<string, unknown>; url: string } {
  if (!schema) return { schema: schema as unknown as Record<string, unknown>, url };
  const out = { ...schema };
  for (const part of SCHEMA_PARTS) {
    const runtime = schema[part];
    const doc = runtime && typeof runtime === 'object' ? DOCUMENTED_AS.get(runtime) : undefined;
    if (doc) out[part] = doc;
  }
  return { schema: out, url };
}

export async function registerOpenApi(app: FastifyInstance, info: OpenApiInfo): Promise<void> {
  await registerOpenApiSync(app, info);
}

/**
 * For apps built synchronously (discovery/http/app.ts): the plugin is queued, and fastify
 * defers route registration until queued plugins have loaded, so onRoute still sees them all.
 * Returns the registration (thenable) for callers that can await it.
 */
export function registerOpenApiSync(app: FastifyInstance, info: OpenApiInfo): PromiseLike<unknown> {
  const swaggerOptions = {
    openapi: {
      openapi: '3.0.3',
      info: { title: info.title, version: info.version, description: info.description },
      components: { securitySchemes: { bearer: { type: 'http' as const, scheme: 'bearer', description: 'Sender API key, admin key or terminal JWT, depending on the route.' } } },
    },
    transform: documentedSchema as never,
  };
  // Routes a synchronous builder declares before the plugin loads would be missed by its
  // onRoute hook: record them now and hand them to that hook when it is installed.
  const early: RouteOptions[] = [];
  let loaded = false;
  app.addHook('onRoute', (r) => {
    if (!loaded) early.push(r);
  });
  const done = app.register(
    shared(async (root: FastifyInstance) => {
      const addHook = root.addHook as unknown as (this: FastifyInstance, name: string, fn: unknown) => FastifyInstance;
      root.addHook = function (this: FastifyInstance, name: string, fn: (r: RouteOptions) => void) {
        if (name === 'onRoute') for (const r of early) fn(r);
        return addHook.call(this, name, fn);
      } as unknown as typeof root.addHook;
      try {
        await root.register(swagger, swaggerOptions);
      } finally {
        root.addHook = addHook as unknown as typeof root.addHook;
        loaded = true;
      }
    }),
  );
  const doc: { value?: OpenApiDoc } = {};
  app.get('/openapi.json', { ...NO_LIMIT, schema: { summary: 'This OpenAPI document', hide: true } }, async () => (doc.value ??= complete(app, app.swagger() as unknown as OpenApiDoc)));
  app.get('/docs', { ...NO_LIMIT, schema: { summary: 'API docs page', hide: true } }, async (_req, reply) => {
    void reply.header('content-type', 'text/html; charset=utf-8').header('content-security-policy', "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'");
    return DOCS_PAGE(info.title);
  });
  return done;
}

type Operation = { summary?: string; description?: string; security?: unknown[]; responses?: Record<string, unknown> };
export type OpenApiDoc = { openapi: string; info: { title: string; version: string }; paths: Record<string, Record<string, Operation>>; components?: Record<string, unknown> };

const ERROR = { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string', description: 'Stable PCM_ERR_* code (docs/errors).' }, message: { type: 'string' } } };

/**
 * The WebSocket upgrade routes carry no HTTP schema (@fastify/swagger leaves them out), yet
 * they are the terminal contract (DESIGN.md section 5): documented here by hand.
 */
const EDGE_PATHS: Record<string, Operation> = {
  '/v1/connect': {
    summary: 'Terminal WebSocket (upgrade)',
    description: 'Terminal JWT in `Authorization: Bearer <jwt>` or `?access_token=<jwt>`. JSON text frames: welcome, message, drain, error (server); ack, reply, hello (terminal).',
    responses: { '101': { description: 'Switching protocols: the session starts with a `welcome` frame.' }, '401': { description: 'Missing or invalid terminal JWT.' } },
  },
  '/mqtt': {
    summary: 'MQTT 3.1.1 over WebSocket (upgrade)',
    description: 'Client id = username = terminal id, password = terminal JWT. Topics `pcm/t/<terminalId>/{messages,control,ack,reply}`.',
    responses: { '101': { description: 'Switching protocols: MQTT CONNECT follows.' } },
  },
};

/**
 * The error statuses of the sender API (DESIGN.md section 5), listed per operation so a client
 * sees which ones to handle; `default` still covers the rest of the catalogue (docs/errors).
 */
const ERR = {
  400: 'Invalid request: body, terminal id, ttlSeconds or timeoutMs (PCM_ERR_BAD_REQUEST, PCM_ERR_INVALID_TERMINAL_ID, PCM_ERR_INVALID_TTL).',
  401: 'Missing or wrong API key (PCM_ERR_UNAUTHORIZED).',
  413: 'Payload larger than PCM_MAX_PAYLOAD_BYTES (PCM_ERR_PAYLOAD_TOO_LARGE).',
  429: 'Rate limited (PCM_ERR_RATE_LIMITED; see Retry-After), or, for sends and requests, the terminal already holds PCM_MAX_PENDING_PER_TERMINAL pending messages (PCM_ERR_QUEUE_FULL; nothing stored, no Retry-After).',
  503: 'Not stored: the store is unavailable or the gateway is closing (PCM_ERR_STORE_UNAVAILABLE, PCM_ERR_NOT_READY).',
  504: 'The terminal did not reply in time (PCM_ERR_REQUEST_TIMEOUT).',
} as const;
const SENDER_ERRORS: Record<string, Array<keyof typeof ERR>> = {
  'post /v1/terminals/{id}/messages': [400, 401, 413, 429, 503],
  'post /v1/terminals/{id}/requests': [400, 401, 413, 429, 503, 504],
  'get /v1/terminals/{id}': [400, 401, 429, 503],
  'get /v1/terminals/{id}/events': [400, 401, 429],
};

/** Adds what the route schemas cannot say: the edge upgrades, the error shape, the bearer scheme. */
function complete(app: FastifyInstance, generated: OpenApiDoc): OpenApiDoc {
  const doc = structuredClone(generated);
  for (const [path, op] of Object.entries(EDGE_PATHS)) if (app.hasRoute({ method: 'GET', url: path })) doc.paths[path] = { get: op };
  const schemas = ((doc.components ??= {}).schemas ??= {}) as Record<string, unknown>;
  schemas.Error = ERROR;
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      op.responses ??= { '200': { description: 'OK' } };
      for (const status of SENDER_ERRORS[`${method} ${path}`] ?? []) {
        op.responses[String(status)] ??= { description: ERR[status], content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
      }
      if (path.startsWith('/v1/terminals/') || path.startsWith('/v1/admin/') || path.startsWith('/v1/discovery/')) {
        op.security ??= [{ bearer: [] }];
        op.responses.default ??= { description: 'Error (400, 401, 404, 413, 429, 503, 504)', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
      }
    }
  }
  return doc;
}

/** What fastify-plugin does (skip encapsulation), without depending on it directly. */
function shared<T extends (root: FastifyInstance) => Promise<void>>(plugin: T): T {
  return Object.assign(plugin, { [Symbol.for('skip-override')]: true });
}

/** Routes that exist but are not part of the document on purpose (the document and its page). */
export const UNDOCUMENTED_ROUTES = ['/openapi.json', '/docs'];

const DOCS_PAGE = (title: string) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title.replace(/</g, '&lt;')} API</title>
<style>body{font:14px system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
.op{border:1px solid #ddd;border-radius:6px;margin:.6em 0;padding:.5em .8em}.m{display:inline-block;min-width:4.5em;font-weight:700;text-transform:uppercase}
.get{color:#1565c0}.post{color:#2e7d32}.delete{color:#c62828}pre{background:#f6f6f6;padding:.5em;overflow:auto;font-size:12px}summary{cursor:pointer}</style></head>
<body><h1 id="t">API</h1><p id="d"></p><div id="ops">Loading /openapi.json ...</div>
<script>
fetch('openapi.json').then(r=>r.json()).then(doc=>{
  const esc=s=>String(s).replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
  document.getElementById('t').textContent=doc.info.title+' '+doc.info.version;
  document.getElementById('d').textContent=doc.info.description||'';
  let html='';
  for(const [path,item] of Object.entries(doc.paths||{})) for(const [m,op] of Object.entries(item)){
    html+='<details class="op"><summary><span class="m '+m+'">'+m+'</span> <code>'+esc(path)+'</code> '+esc(op.summary||'')+'</summary>';
    if(op.parameters) html+='<h4>Parameters</h4><pre>'+esc(JSON.stringify(op.parameters,null,2))+'</pre>';
    if(op.requestBody) html+='<h4>Request body</h4><pre>'+esc(JSON.stringify(op.requestBody,null,2))+'</pre>';
    html+='<h4>Responses</h4><pre>'+esc(JSON.stringify(op.responses,null,2))+'</pre></details>';
  }
  document.getElementById('ops').innerHTML=html;
}).catch(e=>{document.getElementById('ops').textContent='cannot load openapi.json: '+e});
</script></body></html>`;
