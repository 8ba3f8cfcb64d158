import type { GatewayEndpoint } from '../sources/source.js';

/**
 * Weighted rendezvous (highest-random-weight) hashing, pure (DESIGN.md section 5,
 * "Discovery": assignment is stable; adding or removing one of N gateways moves about 1/N
 * of the terminals, never more; draining gateways, and gateways the operator marks
 * `ready: false` (pod not Ready), receive no new assignments).
 *
 * For each eligible gateway g: h = hash01(g.id, terminalId) in (0, 1) and
 * score = -weight / ln(h) (Schindelhauer & Schomaker, "Weighted distributed hash tables");
 * the highest score wins. A terminal's winner only changes when its own winner leaves or a
 * new gateway beats it, so a change of one gateway moves only terminals to or from that
 * gateway: never between two unchanged gateways.
 *
 * Every discovery replica must compute the same answer, so `hash01` is part of the
 * contract: changing it reshuffles every terminal in the fleet at once.
 */

/** cyrb53 (public domain): a fast 53-bit string hash with good avalanche. */
export function hash53(str: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < str.length; i++) {
    const ch = str.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

const TWO_POW_53 = 2 ** 53;

/** Uniform in the open interval (0, 1), so ln() is finite and negative. */
export function hash01(gatewayId: string, terminalId: string): number {
  return (hash53(`${gatewayId}\u0000${terminalId}`) + 0.5) / TWO_POW_53;
}

export function rendezvousScore(gateway: Pick<GatewayEndpoint, 'id' | 'weight'>, terminalId: string): number {
  return -gateway.weight / Math.log(hash01(gateway.id, terminalId));
}

export function isAssignable(g: Pick<GatewayEndpoint, 'weight' | 'draining' | 'ready'>): boolean {
  return !g.draining && g.ready !== false && Number.isFinite(g.weight) && g.weight > 0;
}

/**
 * The gateway a terminal belongs to, or undefined when no gateway is assignable
 * (discovery answers 503 PCM_ERR_NO_GATEWAY). Ties (practically impossible) go to the
 * smaller id so the result never depends on list order. Gateways in `skip` are left out
 * (see assignWithFailover).
 */
export function assignGateway<G extends Pick<GatewayEndpoint, 'id' | 'weight' | 'draining' | 'ready'>>(
  terminalId: string,
  gateways: readonly G[],
  skip?: ReadonlySet<string>,
): G | undefined {
  let best: G | undefined;
  let bestScore = -Infinity;
  for (const g of gateways) {
    if (!isAssignable(g) || skip?.has(g.id)) continue;
    const s = rendezvousScore(g, terminalId);
    if (s > bestScore || (s === bestScore && best !== undefined && g.id < best.id)) {
      best = g;
      bestScore = s;
    }
  }
  return best;
}

/**
 * Client failover (docs/discovery.md, "Failover"): a terminal that could not reach its
 * gateway names it in `unreachable`, and gets the best assignable gateway not named there:
 * its next rendezvous choice, so the terminals of a lost gateway spread over the others in
 * proportion to their weights, and each lands where it will also land if the gateway leaves
 * the set for good. If every assignable gateway is named, the home assignment is the answer
 * (nothing better to offer). `home` is the answer without the report, `failover` whether the
 * report changed it.
 */
export function assignWithFailover<G extends Pick<GatewayEndpoint, 'id' | 'weight' | 'draining' | 'ready'>>(
  terminalId: string,
  gateways: readonly G[],
  unreachable: ReadonlySet<string>,
): { gateway: G | undefined; home: G | undefined; failover: boolean } {
  const home = assignGateway(terminalId, gateways);
  if (!home || !unreachable.has(home.id)) return { gateway: home, home, failover: false };
  const other = assignGateway(terminalId, gateways, unreachable);
  return other ? { gateway: other, home, failover: true } : { gateway: home, home, failover: false };
}
