import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../common/logger.js';
import { EMPTY_SNAPSHOT, type GatewaySnapshot, type GatewaySource, type SnapshotListener } from './source.js';
import { parseGatewaySnapshot, sameGateways } from './snapshot.js';
import { SnapshotListeners } from './emitter.js';

export interface FileGatewaySourceOptions {
  path: string;
  /** Poll fallback interval; fs.watch misses events on some filesystems (NFS, overlay, ConfigMap symlink swaps). */
  pollMs?: number;
  logger: Logger;
}

/**
 * Gateway set from a JSON file (the document in ./snapshot.ts), reloaded when it changes.
 *
 * Change detection is fs.watch on the file's directory (a Kubernetes ConfigMap volume
 * replaces the file by swapping a `..data` symlink, which a watch on the file itself
 * misses) plus a poll that compares the file's text. A file that cannot be read or parsed
 * keeps the last good set and logs an error: a bad edit must never empty the fleet.
 * Generation: the document's `generation`, else a counter bumped on each content change.
 */
export class FileGatewaySource implements GatewaySource {
  private snapshot: GatewaySnapshot = EMPTY_SNAPSHOT;
  private lastText: string | undefined;
  private counter = 0;
  private readonly listeners: SnapshotListeners;
  private watcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private readonly firstLoad: Promise<void>;
  private readonly log: Logger;

  constructor(private readonly opts: FileGatewaySourceOptions) {
    this.log = opts.logger.child({ gatewaysFile: opts.path });
    this.listeners = new SnapshotListeners((err) => this.log.error({ err }, 'gateway set listener failed'));
    this.firstLoad = this.reload();
    const file = path.basename(opts.path);
    try {
      this.watcher = watch(path.dirname(opts.path), { persistent: false }, (_event, name) => {
        if (!name || name === file || name === '..data' || String(name).startsWith(file)) this.schedule();
      });
      this.watcher.on('error', (err) => this.log.warn({ err }, 'fs.watch failed; relying on polling'));
    } catch (err) {
      this.log.warn({ err }, 'fs.watch unavailable; relying on polling');
    }
    this.pollTimer = setInterval(() => void this.reload(), opts.pollMs ?? 2000);
    this.pollTimer.unref();
  }

  current(): GatewaySnapshot {
    return this.snapshot;
  }
  ready(): Promise<void> {
    return this.firstLoad;
  }
  subscribe(listener: SnapshotListener): () => void {
    return this.listeners.add(listener);
  }
  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    clearInterval(this.pollTimer);
    clearTimeout(this.debounce);
    this.listeners.clear();
    await this.loading;
  }

  /** Editors write in bursts (truncate, write, rename): coalesce events for 50 ms. */
  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.reload(), 50);
  }

  /** One load at a time; a request during a load runs once more after it. */
  private reload(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      do {
        this.again = false;
        await this.loadOnce();
      } while (this.again && !this.closed);
    })().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async loadOnce(): Promise<void> {
    if (this.closed) return;
    let text: string;
    try {
      text = await readFile(this.opts.path, 'utf8');
    } catch (err) {
      if (this.lastText !== '\u0000unreadable') this.log.error({ err }, 'cannot read gateway set file; keeping the last good set');
      this.lastText = '\u0000unreadable';
      return;
    }
    if (text === this.lastText) return;
    this.lastText = text;
    let next: GatewaySnapshot;
    try {
      next = parseGatewaySnapshot(text, this.counter + 1);
    } catch (err) {
      this.log.error({ err, code: (err as { code?: string }).code }, `invalid gateway set file; keeping the last good set (generation ${this.snapshot.generation})`);
      return;
    }
    if (sameGateways(next.gateways, this.snapshot.gateways) && next.generation === this.snapshot.generation) return;
    if (next.generation === this.snapshot.generation && !sameGateways(next.gateways, this.snapshot.gateways) && this.snapshot !== EMPTY_SNAPSHOT) {
      this.log.warn({ generation: next.generation }, 'gateway set changed but its generation did not');
    }
    this.counter = Math.max(this.counter + 1, next.generation);
    this.snapshot = next;
    this.log.info({ generation: next.generation, gateways: next.gateways.length, draining: next.gateways.filter((g) => g.draining).length }, 'gateway set loaded');
    this.listeners.emit(next);
  }
}
