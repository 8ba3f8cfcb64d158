import type { FastifyInstance } from 'fastify';
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
export async function registerOpenApi(app: FastifyInstance, info: OpenApiInfo): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: info.title, version: info.version, description: info.description },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Sender API key, admin key or terminal JWT, depending on the route.' } } },
    },
  });
  app.get('/openapi.json', { ...NO_LIMIT, schema: { summary: 'This OpenAPI document', hide: true } }, async () => app.swagger());
  app.get('/docs', { ...NO_LIMIT, schema: { summary: 'API docs page', hide: true } }, async (_req, reply) => {
    void reply.header('content-type', 'text/html; charset=utf-8').header('content-security-policy', "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'");
    return DOCS_PAGE(info.title);
  });
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
