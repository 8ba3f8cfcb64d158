import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { FileGatewaySource } from './file.js';
import { StaticGatewaySource } from './static.js';
import { parseGatewayList, parseGatewaySnapshot } from './snapshot.js';
import type { GatewaySnapshot } from './source.js';

/** A logger that records error lines so tests can assert a bad file was reported. */
function recordingLogger() {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { logger, errors: () => lines.filter((l) => l.level >= 50) };
}

const gw = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  websocketUrl: `ws://127.0.0.1:8080/${id}/v1/connect`,
  mqttUrl: `mqtt://127.0.0.1:1883`,
  ...extra,
});

async function until<T>(fn: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('gateway-set document', () => {
  it('parses the compact PCM_GATEWAYS form with weight and draining', () => {
    const s = parseGatewayList('gw-0|ws://a:1/v1/connect|mqtt://a:1883, gw-1|ws://b:1/v1/connect|mqtt://b:1883|3|draining');
    expect(s.gateways).toEqual([
      { id: 'gw-0', websocketUrl: 'ws://a:1/v1/connect', mqttUrl: 'mqtt://a:1883', weight: 1, draining: false },
      { id: 'gw-1', websocketUrl: 'ws://b:1/v1/connect', mqttUrl: 'mqtt://b:1883', weight: 3, draining: true },
    ]);
    expect(Object.isFrozen(s.gateways[0])).toBe(true);
  });

  it('keeps the operator\'s ready: false mark (pod not Ready); ready: true or absent is the same gateway', () => {
    const doc = (ready?: boolean) => ({ gateways: [{ id: 'g', websocketUrl: 'ws://g/v1/connect', mqttUrl: 'mqtt://g:1883', ...(ready === undefined ? {} : { ready }) }] });
    expect(parseGatewaySnapshot(doc(false), 1).gateways[0]).toEqual({ id: 'g', websocketUrl: 'ws://g/v1/connect', mqttUrl: 'mqtt://g:1883', weight: 1, draining: false, ready: false });
    expect(parseGatewaySnapshot(doc(true), 1).gateways[0]).toEqual(parseGatewaySnapshot(doc(), 1).gateways[0]);
    expect(parseGatewaySnapshot(doc(), 1).gateways[0]).not.toHaveProperty('ready');
  });

  it('rejects bad documents with PCM_ERR_CONFIG naming the field', () => {
    expect(() => parseGatewaySnapshot('{"gateways":[{"id":"x","websocketUrl":"http://x","mqttUrl":"mqtt://x"}]}', 1)).toThrow(/websocketUrl/);
    expect(() => parseGatewaySnapshot('not json', 1)).toThrow(expect.objectContaining({ code: 'PCM_ERR_CONFIG' }));
    expect(() => parseGatewaySnapshot('{"gateways":[{"id":"x","websocketUrl":"ws://x","mqttUrl":"mqtt://x","ready":"no"}]}', 1)).toThrow(/ready/);
    expect(() => parseGatewaySnapshot({ gateways: [gw('a'), gw('a')] }, 1)).toThrow(/duplicate gateway id "a"/);
    expect(() => parseGatewaySnapshot({ gateways: [gw('a', { weight: 0 })] }, 1)).toThrow(/weight/);
  });
});

describe('StaticGatewaySource', () => {
  it('serves its fixed set at once', async () => {
    const s = new StaticGatewaySource([{ id: 'dev', websocketUrl: 'ws://127.0.0.1:8080/v1/connect', mqttUrl: 'mqtt://127.0.0.1:1883' }]);
    await s.ready();
    expect(s.current().generation).toBe(1);
    expect(s.current().gateways[0]).toMatchObject({ id: 'dev', weight: 1, draining: false });
    await s.close();
  });
});

describe('FileGatewaySource (real temp file)', () => {
  let dir: string;
  let source: FileGatewaySource | undefined;
  afterEach(async () => {
    await source?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads, reloads on change (in place and by rename), and keeps the last good set on a bad file', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-gw-'));
    const file = path.join(dir, 'gateways.json');
    writeFileSync(file, JSON.stringify({ generation: 4, gateways: [gw('gw-0'), gw('gw-1')] }));
    const { logger, errors } = recordingLogger();
    source = new FileGatewaySource({ path: file, pollMs: 200, logger });
    const seen: GatewaySnapshot[] = [];
    source.subscribe((s) => seen.push(s));
    await source.ready();
    expect(source.current().generation).toBe(4);
    expect(source.current().gateways.map((g) => g.id)).toEqual(['gw-0', 'gw-1']);

    // in-place write
    writeFileSync(file, JSON.stringify({ generation: 5, gateways: [gw('gw-0'), gw('gw-1', { draining: true }), gw('gw-2')] }));
    await until(() => source!.current().generation === 5);
    expect(source.current().gateways.find((g) => g.id === 'gw-1')?.draining).toBe(true);

    // bad file: last good set stays, an error is logged
    writeFileSync(file, '{"gateways": [ {"id": "oops"');
    await until(() => errors().length > 0);
    expect(errors()[0]!.msg).toMatch(/invalid gateway set file; keeping the last good set \(generation 5\)/);
    expect(source.current().gateways.map((g) => g.id)).toEqual(['gw-0', 'gw-1', 'gw-2']);

    // atomic replace by rename (how ConfigMaps and careful editors update)
    const tmp = path.join(dir, '.gateways.json.tmp');
    writeFileSync(tmp, JSON.stringify([gw('gw-9')]));
    renameSync(tmp, file);
    await until(() => source!.current().gateways[0]?.id === 'gw-9');
    // no generation in the document: the source's counter moves forward
    expect(source.current().generation).toBeGreaterThan(5);
    expect(seen.map((s) => s.gateways.length)).toEqual([2, 3, 1]);
  });

  it('the poll fallback alone notices a change', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-gw-'));
    const file = path.join(dir, 'gw.json');
    writeFileSync(file, JSON.stringify([gw('a')]));
    source = new FileGatewaySource({ path: file, pollMs: 100, logger: recordingLogger().logger });
    await source.ready();
    // Stop the watcher so only polling can see the next write.
    (source as unknown as { watcher?: { close(): void } }).watcher?.close();
    writeFileSync(file, JSON.stringify([gw('a'), gw('b')]));
    await until(() => source!.current().gateways.length === 2, 3000);
  });

  it('a missing file at start gives an empty set and an error, then loads when it appears', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-gw-'));
    const file = path.join(dir, 'later.json');
    const { logger, errors } = recordingLogger();
    source = new FileGatewaySource({ path: file, pollMs: 100, logger });
    await source.ready();
    expect(source.current().gateways).toEqual([]);
    expect(errors().length).toBe(1);
    writeFileSync(file, JSON.stringify([gw('late')]));
    await until(() => source!.current().gateways.length === 1);
  });
});
