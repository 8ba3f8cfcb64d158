import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { PcmError } from '../../common/errors.js';
import { MemoryMessageStore } from '../adapters/memory/memory-store.js';
import type { MessageStore } from '../ports/message-store.js';
import { instrumentStore } from './instrumented-store.js';

async function value(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name.replace(/_count$/, ''));
  const want = name.endsWith('_count') ? name : undefined;
  const v = m?.values.find((x) => (!want || (x as { metricName?: string }).metricName === want) && Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v?.value ?? 0;
}

describe('instrumentStore', () => {
  it('passes results through and times every operation; counts collapses and idempotent replays', async () => {
    const registry = new Registry();
    const store = instrumentStore(new MemoryMessageStore(), registry);
    const now = Date.now();
    const msg = { terminalId: 't-1', payload: '{}', ttlSeconds: 60, messageId: 'm-1', collapseKey: 'c', idempotencyKey: 'i-1' };
    const first = await store.append(msg, now);
    expect(first.message.seq).toBe(1);
    expect((await store.append(msg, now)).duplicate).toBe(true);
    expect((await store.append({ ...msg, messageId: 'm-2', idempotencyKey: 'i-2' }, now)).collapsedSeq).toBe(1);
    expect(await store.pending('t-1', { now, limit: 10 })).toHaveLength(1);
    expect((await store.ack('t-1', 2)).lastAckedSeq).toBe(2);
    expect(await value(registry, 'pcm_store_operation_seconds_count', { op: 'append', store: 'memory' })).toBe(3);
    expect(await value(registry, 'pcm_store_operation_seconds_count', { op: 'pending' })).toBe(1);
    expect(await value(registry, 'pcm_store_operation_seconds_count', { op: 'ack' })).toBe(1);
    expect(await value(registry, 'pcm_messages_idempotent_replays_total')).toBe(1);
    expect(await value(registry, 'pcm_messages_collapsed_total')).toBe(1);
  });

  it('a synchronous throw becomes a rejection; errors are counted and timed, an invalid ack is not an error', async () => {
    const registry = new Registry();
    const inner = new MemoryMessageStore();
    const broken: MessageStore = Object.assign(Object.create(inner) as MessageStore, {
      kind: 'memory',
      append: () => {
        throw new Error('disk on fire');
      },
    });
    const store = instrumentStore(broken, registry);
    const p = store.append({ terminalId: 't-1', payload: '{}', ttlSeconds: 60, messageId: 'm-1' }, Date.now());
    expect(p).toBeInstanceOf(Promise);
    await expect(p).rejects.toThrow('disk on fire');
    await expect(store.ack('t-1', 5)).rejects.toSatisfy((e: unknown) => e instanceof PcmError && e.code === 'PCM_ERR_INVALID_ACK');
    expect(await value(registry, 'pcm_store_errors_total', { op: 'append', store: 'memory' })).toBe(1);
    expect(await value(registry, 'pcm_store_errors_total', { op: 'ack' })).toBe(0);
    expect(await value(registry, 'pcm_store_operation_seconds_count', { op: 'append' })).toBe(1);
    expect(await value(registry, 'pcm_store_operation_seconds_count', { op: 'ack' })).toBe(1);
  });

  it('a SQLite store shows where its commits run, read at every scrape (auto may move them to the thread)', async () => {
    const registry = new Registry();
    let writerKind: 'inline' | 'thread' = 'inline';
    // a getter, as on SqliteMessageStore (Object.assign would copy its value once)
    const sqliteLike = Object.defineProperties(Object.create(new MemoryMessageStore()) as MessageStore, {
      kind: { value: 'sqlite' },
      writerKind: { get: () => writerKind },
    });
    instrumentStore(sqliteLike, registry);
    expect([await value(registry, 'pcm_store_sqlite_writer', { writer: 'inline' }), await value(registry, 'pcm_store_sqlite_writer', { writer: 'thread' })]).toEqual([1, 0]);
    writerKind = 'thread';
    expect([await value(registry, 'pcm_store_sqlite_writer', { writer: 'inline' }), await value(registry, 'pcm_store_sqlite_writer', { writer: 'thread' })]).toEqual([0, 1]);
    // other stores have no such gauge
    const other = new Registry();
    instrumentStore(new MemoryMessageStore(), other);
    expect((await other.getMetricsAsJSON()).some((m) => m.name === 'pcm_store_sqlite_writer')).toBe(false);
  });
});
