/**
 * Child process for the inline-fallback tests, a second process sharing the SQLite file
 * PCM_LOCK_FILE: for each line `hold <ms>` on stdin it takes the file's write lock (BEGIN
 * IMMEDIATE), prints `locked`, keeps the lock for <ms> and commits. Ends when stdin closes.
 */
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';

const db = new Database(process.env.PCM_LOCK_FILE!, { timeout: 5_000 });
db.pragma('journal_mode = WAL');
const sleeper = new Int32Array(new SharedArrayBuffer(4));
for await (const line of createInterface({ input: process.stdin })) {
  const ms = Number(/^hold (\d+)$/.exec(line)?.[1]);
  if (!Number.isFinite(ms)) continue;
  db.exec('BEGIN IMMEDIATE');
  process.stdout.write('locked\n');
  Atomics.wait(sleeper, 0, 0, ms); // the lock is held while this process sleeps
  db.exec('COMMIT');
}
db.close();
