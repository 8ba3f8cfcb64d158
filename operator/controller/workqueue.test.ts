import { describe, expect, it } from 'vitest';
import { WorkQueue } from './workqueue.js';

describe('WorkQueue', () => {
  it('coalesces repeated adds of a key into one item, FIFO across keys', async () => {
    const q = new WorkQueue();
    for (let i = 0; i < 100; i++) q.add('ns/a');
    q.add('ns/b');
    q.add('ns/a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('ns/a');
    expect(await q.get()).toBe('ns/b');
  });

  it('never hands out a key being processed; an add meanwhile runs it once more after done', async () => {
    const q = new WorkQueue();
    q.add('k');
    const k = await q.get();
    q.add('k');
    q.add('k');
    expect(q.length).toBe(0); // not handed to a second worker
    q.done(k!);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('k');
    q.done('k');
    expect(q.length).toBe(0);
  });

  it('a waiting worker gets a key added later; shutDown releases waiters', async () => {
    const q = new WorkQueue();
    const p = q.get();
    q.add('x');
    expect(await p).toBe('x');
    const w = q.get();
    q.shutDown();
    expect(await w).toBeUndefined();
  });

  it('addAfter delays; the earlier schedule wins', async () => {
    const q = new WorkQueue();
    q.addAfter('k', 60_000);
    q.addAfter('k', 20);
    const t0 = Date.now();
    expect(await q.get()).toBe('k');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(15);
    expect(Date.now() - t0).toBeLessThan(5_000);
    q.shutDown();
  });

  it('retry backs off exponentially (full jitter, capped) and forget resets', () => {
    const q = new WorkQueue({ baseMs: 100, capMs: 1000 });
    const max = () => 0.999999;
    expect(q.retry('k', max)).toBe(99);
    expect(q.retry('k', max)).toBe(199);
    expect(q.retry('k', max)).toBe(399);
    for (let i = 0; i < 10; i++) q.retry('k', max);
    expect(q.retry('k', max)).toBe(999);
    q.forget('k');
    expect(q.failuresOf('k')).toBe(0);
    q.shutDown();
  });
});
