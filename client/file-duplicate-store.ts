import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PcmError } from '../common/errors.js';
import type { DuplicateState, DuplicateStore } from './duplicate-store.js';

/**
 * The default DuplicateStore: one small JSON file per terminal id in `dir`, written
 * atomically (write a temp file, fsync, rename over the old one, fsync the directory), so a
 * crash leaves either the old or the new state, never a torn file. Saves for one terminal
 * are serialized in call order.
 */
export class FileDuplicateStore implements DuplicateStore {
  private readonly chains = new Map<string, Promise<void>>();
  constructor(readonly dir: string) {}

  fileFor(terminalId: string): string {
    return path.join(this.dir, `${encodeURIComponent(terminalId)}.dedup.json`);
  }

  async load(terminalId: string): Promise<DuplicateState> {
    await this.chains.get(terminalId);
    const file = this.fileFor(terminalId);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { lastSeq: 0 };
      throw err;
    }
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch {
      obj = undefined;
    }
    const o = obj as { epoch?: unknown; lastSeq?: unknown } | undefined;
    if (!o || typeof o !== 'object' || !Number.isSafeInteger(o.lastSeq) || (o.lastSeq as number) < 0 || (o.epoch !== undefined && typeof o.epoch !== 'string')) {
      throw new PcmError('PCM_ERR_INTERNAL', `duplicate store file ${file} is corrupt; delete it to reset (messages may then be handled again)`);
    }
    return o.epoch === undefined ? { lastSeq: o.lastSeq as number } : { epoch: o.epoch as string, lastSeq: o.lastSeq as number };
  }

  save(terminalId: string, state: DuplicateState): Promise<void> {
    const prev = this.chains.get(terminalId) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(() => this.write(terminalId, state));
    this.chains.set(terminalId, next);
    void next.finally(() => {
      if (this.chains.get(terminalId) === next) this.chains.delete(terminalId);
    }).catch(() => {});
    return next;
  }

  private async write(terminalId: string, state: DuplicateState): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const file = this.fileFor(terminalId);
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const body = JSON.stringify(state.epoch === undefined ? { lastSeq: state.lastSeq } : { epoch: state.epoch, lastSeq: state.lastSeq });
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, file);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
    // The rename is durable only once the directory entry is on disk.
    const dh = await open(this.dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }
}
