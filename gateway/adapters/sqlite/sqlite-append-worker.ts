/**
 * Child process for sqlite-store.test.ts: appends PCM_WORKER_COUNT messages to one terminal
 * in the SQLite file PCM_WORKER_FILE and prints `stored <seq> <messageId>` as each append
 * resolves (i.e. after the store said "durable", the point a sender would get 202). With
 * PCM_WORKER_ACK=1 it also acks every message right after its append and prints `acked <seq>`
 * once the ack resolved (ACK_SYNC: ack-only commits do not wait for the disk).
 */
import { SqliteMessageStore } from './sqlite-store.js';

const env = process.env;
const store = new SqliteMessageStore({ file: env.PCM_WORKER_FILE!, sweepIntervalMs: 0 });
const count = Number(env.PCM_WORKER_COUNT);
const label = env.PCM_WORKER_LABEL ?? 'w';
void (async () => {
  for (let i = 0; i < count; i++) {
    const id = `${label}-${i}`;
    const r = await store.append({ terminalId: env.PCM_WORKER_TERMINAL!, payload: JSON.stringify({ id }), ttlSeconds: 600, messageId: id }, Date.now());
    process.stdout.write(`stored ${r.message.seq} ${id}\n`);
    if (env.PCM_WORKER_ACK === '1') {
      await store.ack(env.PCM_WORKER_TERMINAL!, r.message.seq);
      process.stdout.write(`acked ${r.message.seq}\n`);
    }
  }
  await store.close();
})().catch((err: unknown) => {
  process.stderr.write(`sqlite-append-worker failed: ${String(err)}\n`);
  process.exit(1);
});
