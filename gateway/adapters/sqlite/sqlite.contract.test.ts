import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ManualClock } from '../../../common/clock.js';
import { messageStoreContract } from '../../../test/contract/message-store.contract.js';
import { sessionDirectoryContract } from '../../../test/contract/session-directory.contract.js';
import { SqliteSessionDirectory } from './sqlite-directory.js';
import { SqliteMessageStore } from './sqlite-store.js';

// Real files in a temp dir (WAL needs a file), one database per test. Both write paths:
// the writer thread (the default) and writes on the calling thread.
for (const writerThread of [true, false]) {
  messageStoreContract(writerThread ? 'sqlite' : 'sqlite (inline writer)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pcm-sqlite-'));
    const file = path.join(dir, 'store.db');
    let store = new SqliteMessageStore({ file, sweepIntervalMs: 0, writerThread });
    return {
      store,
      restart: async () => {
        await store.close();
        store = new SqliteMessageStore({ file, sweepIntervalMs: 0, writerThread });
        return store;
      },
      // Another connection deletes the counter row, as an operator or a corrupted restore might.
      loseCounter: async (terminalId: string) => {
        const db = new Database(file);
        db.prepare('DELETE FROM counters WHERE terminal_id = ?').run(terminalId);
        db.close();
      },
      cleanup: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
}

sessionDirectoryContract('sqlite', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pcm-sqlite-dir-'));
  const clock = new ManualClock();
  const directory = new SqliteSessionDirectory({ file: path.join(dir, 'directory.db') }, clock);
  return {
    directory,
    clock,
    cleanup: async () => {
      await directory.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
