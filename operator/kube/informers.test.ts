import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { silentLogger } from '../../common/logger.js';
import { KubeClient } from './client.js';
import { Informer } from './informers.js';

/**
 * The informer's failure handling against a scripted API server on a real socket: a failed
 * list and a failed watch restart after backoff; a 410 Gone in the watch stream relists.
 */
type Step = (req: http.IncomingMessage, res: http.ServerResponse) => void;

const cm = (name: string, rv: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns', resourceVersion: rv }, data: {} });
const list = (rv: string, ...items: object[]): Step => (_q, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: rv }, items }));
};
const fail = (code: number): Step => (_q, res) => {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', code, message: 'scripted failure' }));
};
const watchEvents = (...events: object[]): Step => (_q, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  for (const e of events) res.write(JSON.stringify(e) + '\n');
  res.end();
};
const hang: Step = (_q, res) => res.writeHead(200, { 'content-type': 'application/json' });

describe('Informer (ListWatch + restart with backoff)', () => {
  let server: http.Server | undefined;
  let informer: Informer | undefined;
  afterEach(async () => {
    await informer?.stop();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  it('restarts after a failed list and a failed watch (backoff), relists after 410 Gone, resumes after a normal close', async () => {
    const lists: Step[] = [fail(500), list('10', cm('a', '10')), list('20', cm('b', '20'))];
    const watches: Step[] = [
      watchEvents({ type: 'ERROR', object: { kind: 'Status', code: 410, message: 'too old' } }),
      fail(500),
      watchEvents({ type: 'MODIFIED', object: cm('b', '21') }, { type: 'ADDED', object: cm('c', '22') }),
      hang,
    ];
    const seen: string[] = [];
    const requests: string[] = [];
    server = http.createServer((req, res) => {
      const isWatch = req.url!.includes('watch=true');
      requests.push(`${isWatch ? 'watch' : 'list'} ${new URL(req.url!, 'http://x').searchParams.get('resourceVersion') ?? ''}`);
      const step = (isWatch ? watches : lists).shift();
      if (!step) return fail(500)(req, res);
      step(req, res);
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    informer = new Informer(new KubeClient(kc), kc, { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'ns' }, silentLogger, (ev, o) => seen.push(`${ev} ${o.metadata.name}`));
    await informer.start();
    const end = Date.now() + 10_000;
    while (watches.length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    // failed list -> backoff -> list; 410 -> relist; failed watch -> backoff -> resume from the same version;
    // a watch the server closes normally -> resume from the last event's version.
    expect(requests).toEqual(['list ', 'list ', 'watch 10', 'list ', 'watch 20', 'watch 20', 'watch 22']);
    expect(seen).toEqual(['add a', 'delete a', 'add b', 'update b', 'add c']);
    expect(informer.list().map((o) => o.metadata.name).sort()).toEqual(['b', 'c']);
    expect(informer.errors).toBe(2);
  });
});
