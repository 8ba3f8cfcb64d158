/**
 * A stand-in for one gateway process (issue 4: "concurrent appends from two gateway
 * processes to the same terminal never share a seq"). Appends PCM_WORKER_COUNT messages to
 * one terminal with PCM_WORKER_CONCURRENCY in flight and prints `{"seqs":[...]}`.
 * Started by couchbase-store.test.ts as `node --import tsx append-worker.ts`.
 */
import { CouchbaseMessageStore } from '../../../gateway/adapters/couchbase/couchbase-store.js';

async function main(): Promise<void> {
  const env = process.env;
  const store = await CouchbaseMessageStore.connect(JSON.parse(env.PCM_WORKER_COUCHBASE!));
  const terminalId = env.PCM_WORKER_TERMINAL!;
  const label = env.PCM_WORKER_LABEL!;
  const count = Number(env.PCM_WORKER_COUNT);
  const concurrency = Number(env.PCM_WORKER_CONCURRENCY);
  const seqs: number[] = [];
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const i = next++;
          const r = await store.append(
            { terminalId, payload: JSON.stringify({ label, i }), ttlSeconds: 600, messageId: `${label}-${i}` },
            Date.now(),
          );
          seqs.push(r.message.seq);
        }
      }),
    );
  } finally {
    await store.close();
  }
  process.stdout.write(JSON.stringify({ seqs }) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`append-worker failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
