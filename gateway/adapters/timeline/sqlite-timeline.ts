import Database from 'better-sqlite3';
import { DEFAULT_TIMELINE_LIMITS, type TerminalEvent, type Timeline, type TimelineLimits } from '../../ports/timeline.js';

/**
 * SQLite timeline (its own file, separate from the message store's): one row per event.
 * Writes are batched and flushed every 250 ms in one transaction so the delivery path never
 * waits on disk; trimming to `maxPerTerminal` and the TTL happens on flush.
 */
export class SqliteTimeline implements Timeline {
  private readonly db: Database.Database;
  private readonly limits: TimelineLimits;
  private queue: TerminalEvent[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(file: string, limits: Partial<TimelineLimits> = {}, private readonly now: () => number = Date.now) {
    this.limits = { ...DEFAULT_TIMELINE_LIMITS, ...limits };
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS timeline (
      id INTEGER PRIMARY KEY AUTOINCREMENT, terminal_id TEXT NOT NULL, at INTEGER NOT NULL, event TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS timeline_terminal ON timeline (terminal_id, id)`);
    this.timer = setInterval(() => this.flush(), 250);
    this.timer.unref();
  }

  record(event: TerminalEvent): void {
    this.queue.push(event);
    if (this.queue.length >= 1000) this.flush();
  }

  flush(): void {
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    const insert = this.db.prepare('INSERT INTO timeline (terminal_id, at, event) VALUES (?, ?, ?)');
    const trim = this.db.prepare(
      'DELETE FROM timeline WHERE terminal_id = ? AND (at < ? OR id <= (SELECT id FROM timeline WHERE terminal_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?))',
    );
    const oldest = this.now() - this.limits.ttlMs;
    this.db.transaction(() => {
      const touched = new Set<string>();
      for (const e of batch) {
        insert.run(e.terminalId, e.at, JSON.stringify(e));
        touched.add(e.terminalId);
      }
      for (const t of touched) trim.run(t, oldest, t, this.limits.maxPerTerminal);
    })();
  }

  async recent(terminalId: string, limit = this.limits.maxPerTerminal): Promise<TerminalEvent[]> {
    this.flush();
    const rows = this.db
      .prepare('SELECT event FROM timeline WHERE terminal_id = ? AND at >= ? ORDER BY id DESC LIMIT ?')
      .all(terminalId, this.now() - this.limits.ttlMs, Math.min(limit, this.limits.maxPerTerminal)) as { event: string }[];
    return rows.map((r) => JSON.parse(r.event) as TerminalEvent);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.flush();
    this.db.close();
  }
}
