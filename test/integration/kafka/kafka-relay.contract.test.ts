import { describe } from 'vitest';
import { needService } from '../../services/env.js';
import { relayBusContract } from '../../contract/relay-bus.contract.js';
import { kafkaRelayFixture } from './kafka-fixture.js';

const kafka = needService('kafka', ['PCM_TEST_KAFKA_BROKERS']);

describe.skipIf(!kafka)('Kafka relay (real Kafka from the test bed)', () => {
  relayBusContract('kafka', () => kafkaRelayFixture(kafka!.PCM_TEST_KAFKA_BROKERS!.split(',')));
});
