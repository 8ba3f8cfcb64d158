export { PcmClient, type PcmClientOptions, type PcmClientEvents, type ReceivedMessage, type MessageHandler, type ConnectedInfo, type ClientState } from './client.js';
export { PROFILES, resolveProfile, type ProfileSettings } from './profiles.js';
export { MemoryDuplicateStore, type DuplicateStore, type DuplicateState } from './duplicate-store.js';
export { FileDuplicateStore } from './file-duplicate-store.js';
export { fetchAssignment, type Assignment } from './discovery-client.js';
export type { ClientTransport, TransportFactory } from './transports/transport.js';
