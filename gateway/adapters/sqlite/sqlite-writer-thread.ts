import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { SqliteStoreCore, errorData, slimAppend, type WriteBatch, type WriteResult } from './sqlite-core.js';
import type { SqliteOptions } from './sqlite-open.js';

/**
 * The SQLite store's writer thread: owns the write connection and runs the group commits
 * here, so the fsync of synchronous=FULL blocks this thread, not the gateway's event loop.
 * The main thread posts a group as soon as it has one, without waiting for the commit before
 * it; whatever queued up while this thread was on disk is taken together (receiveMessageOnPort)
 * and written as ONE transaction, one fsync, each group as if alone and in order.
 * Messages: {id, batch} in, {done: [{id, ok} | {id, err}]} out (in the order received);
 * {close: true} closes the connection and ends the thread (after the groups before it).
 */
type In = { id: number; batch: WriteBatch } | { close: true };
type Out = { id: number; ok: WriteResult } | { id: number; err: ReturnType<typeof errorData> };

/** Stop gathering queued groups once a transaction holds this many writes (bounds one commit's latency). */
const MAX_ITEMS_PER_TX = 8192;

const port = parentPort!;
let core: SqliteStoreCore;
try {
  core = new SqliteStoreCore(workerData as SqliteOptions & { sweepChunk?: number });
  port.postMessage({ ready: true });
} catch (err) {
  port.postMessage({ fatal: errorData(err) });
  process.exit(1);
}

function size(b: WriteBatch): number {
  return b.appends.length + b.acks.length + b.creates.length + 1;
}

port.on('message', (first: In) => {
  const groups: { id: number; batch: WriteBatch }[] = [];
  let closing = false;
  let items = 0;
  let m: In | undefined = first;
  while (m) {
    if ('close' in m) {
      closing = true; // the parent sends nothing after close
      break;
    }
    groups.push(m);
    items += size(m.batch);
    if (items >= MAX_ITEMS_PER_TX) break;
    m = receiveMessageOnPort(port)?.message as In | undefined;
  }
  if (groups.length > 0) {
    let done: Out[];
    try {
      const results = core.writeMany(groups.map((g) => g.batch));
      done = groups.map((g, i) => {
        const r = results[i]!;
        return { id: g.id, ok: { ...r, appends: r.appends.map(slimAppend) as unknown as WriteResult['appends'] } };
      });
    } catch (err) {
      const e = errorData(err);
      done = groups.map((g) => ({ id: g.id, err: e }));
    }
    port.postMessage({ done });
  }
  if (closing) {
    core.close();
    port.close();
  }
});
