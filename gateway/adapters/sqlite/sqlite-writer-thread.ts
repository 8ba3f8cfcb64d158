import { parentPort, workerData } from 'node:worker_threads';
import { SqliteStoreCore, errorData, slimAppend, type WriteBatch } from './sqlite-core.js';
import type { SqliteOptions } from './sqlite-open.js';

/**
 * The SQLite store's writer thread: owns the write connection and runs each group commit
 * (SqliteStoreCore.write) here, so the fsync of synchronous=FULL blocks this thread, not the
 * gateway's event loop; while one commit is on disk the main thread keeps accepting sends and
 * queues them for the next one. Messages: {id, batch} in, {id, ok} or {id, err} out;
 * {close: true} closes the connection and ends the thread.
 */
type In = { id: number; batch: WriteBatch } | { close: true };

const port = parentPort!;
let core: SqliteStoreCore;
try {
  core = new SqliteStoreCore(workerData as SqliteOptions);
  port.postMessage({ ready: true });
} catch (err) {
  port.postMessage({ fatal: errorData(err) });
  process.exit(1);
}

port.on('message', (m: In) => {
  if ('close' in m) {
    core.close();
    port.close();
    return;
  }
  try {
    const r = core.write(m.batch);
    port.postMessage({ id: m.id, ok: { ...r, appends: r.appends.map(slimAppend) } });
  } catch (err) {
    port.postMessage({ id: m.id, err: errorData(err) });
  }
});
