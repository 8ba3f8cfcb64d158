import { ManualClock } from '../../../common/clock.js';
import { messageStoreContract } from '../../../test/contract/message-store.contract.js';
import { sessionDirectoryContract } from '../../../test/contract/session-directory.contract.js';
import { MemorySessionDirectory } from './memory-directory.js';
import { MemoryMessageStore } from './memory-store.js';

// The memory adapter is not durable: the contract's restart case is not registered for it.
messageStoreContract(
  'memory',
  async () => {
  const store = new MemoryMessageStore();
  return {
    store,
    loseCounter: async (t: string) => store.loseCounter(t),
    cleanup: () => store.close(),
  };
  },
  { durable: false },
);

sessionDirectoryContract('memory', async () => {
  const clock = new ManualClock();
  const directory = new MemorySessionDirectory(clock);
  return { directory, clock, cleanup: () => directory.close() };
});
