import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { silentLogger } from '../../common/logger.js';
import { KubeApiError, type KubeClient } from './client.js';
import { LeaderElector } from './leader.js';
import type { KubeObject } from './object.js';

type Lease = KubeObject & { spec: { holderIdentity?: string } };

/**
 * A scripted Lease store with resourceVersions: replace() with a stale version is a 409, as on
 * the API server. `renewBeforeNextReplace` simulates a renewal that was already in flight when
 * stop() began and lands between stop()'s read and its write.
 */
function leaseStore(holder: string) {
  let version = 1;
  let lease: Lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l', namespace: 'ns', resourceVersion: '1' }, spec: { holderIdentity: holder } };
  const state = { renewBeforeNextReplace: false, replaces: 0, conflicts: 0 };
  const kube = {
    async get() {
      return structuredClone(lease);
    },
    async replace(obj: Lease) {
      state.replaces++;
      if (state.renewBeforeNextReplace) {
        state.renewBeforeNextReplace = false;
        lease = { ...lease, metadata: { ...lease.metadata, resourceVersion: String(++version) } };
      }
      if (obj.metadata.resourceVersion !== lease.metadata.resourceVersion) {
        state.conflicts++;
        throw new KubeApiError(409, 'Conflict', 'the object has been modified');
      }
      lease = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++version) } };
      return structuredClone(lease);
    },
  } as unknown as KubeClient;
  return { kube, state, holder: () => lease.spec.holderIdentity ?? '' };
}

const elector = (kube: KubeClient) => new LeaderElector(kube, { namespace: 'ns', name: 'l', identity: 'me', clock: new ManualClock(0), log: silentLogger });

describe('LeaderElector.stop releases the Lease it holds', () => {
  it('retries when a renewal in flight makes the release a conflict', async () => {
    const s = leaseStore('me');
    s.state.renewBeforeNextReplace = true;
    await elector(s.kube).stop();
    expect(s.state.conflicts).toBe(1);
    expect(s.holder()).toBe('');
  });

  it('releases even when it no longer believes it leads (stepped down after a slow renewal), and leaves another holder alone', async () => {
    const mine = leaseStore('me');
    await elector(mine.kube).stop(); // never ran: not leading, but still named in the Lease
    expect(mine.holder()).toBe('');
    const theirs = leaseStore('other');
    await elector(theirs.kube).stop();
    expect(theirs.holder()).toBe('other');
    expect(theirs.state.replaces).toBe(0);
  });
});
