import { PcmError } from '../../../common/errors.js';

/**
 * Topic layout of the Kafka relay (DESIGN.md section 3, docs/relay.md):
 *   <prefix>.gw.<gatewayId>   addressed events for one gateway, consumed only by it
 *   <prefix>.broadcast        unknown-owner fallback and control, consumed by every gateway
 * Consumer group of a gateway: <prefix>.<gatewayId> (its own group, so it sees every
 * broadcast record and all partitions of its own topic).
 */
const LEGAL = /^[A-Za-z0-9._-]+$/;
const MAX_TOPIC = 249;

export interface RelayTopics {
  gateway(gatewayId: string): string;
  broadcast: string;
  group(gatewayId: string): string;
}

export function relayTopics(prefix: string): RelayTopics {
  if (!LEGAL.test(prefix)) {
    throw new PcmError('PCM_ERR_CONFIG', `relay: Kafka topic prefix "${prefix}" must match ${LEGAL} (Kafka topic name rules)`, {
      details: { field: 'kafkaTopicPrefix' },
    });
  }
  return {
    gateway(gatewayId) {
      checkGatewayId(gatewayId);
      const t = `${prefix}.gw.${gatewayId}`;
      if (t.length > MAX_TOPIC) throw new PcmError('PCM_ERR_CONFIG', `relay: topic name "${t}" is longer than ${MAX_TOPIC} characters`);
      return t;
    },
    broadcast: `${prefix}.broadcast`,
    group: (gatewayId) => `${prefix}.${gatewayId}`,
  };
}

export function checkGatewayId(gatewayId: string): void {
  if (!gatewayId || !LEGAL.test(gatewayId)) {
    throw new PcmError('PCM_ERR_CONFIG', `relay: gateway id "${gatewayId}" must match ${LEGAL} to name its Kafka topic`, {
      details: { field: 'gatewayId' },
    });
  }
}
