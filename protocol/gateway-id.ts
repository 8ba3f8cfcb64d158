/**
 * Gateway ids (the StatefulSet pod name in Kubernetes) travel in discovery answers, relay
 * topics and presence records, and terminals send them back to discovery when one cannot be
 * reached (`?unreachable=`, docs/discovery.md "Failover"): gateway config, discovery and the
 * SDK share these rules.
 */
export const GATEWAY_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$';
const re = new RegExp(GATEWAY_ID_PATTERN);

export function isValidGatewayId(id: string): boolean {
  return re.test(id);
}

/** Most gateway ids one discovery request may report unreachable (discovery refuses more). */
export const MAX_UNREACHABLE_GATEWAYS = 8;
