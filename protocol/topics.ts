/** MQTT topic layout (DESIGN.md section 5). A terminal may only use its own four topics. */
export const TOPIC_PREFIX = 'pcm/t/';

export const topics = {
  messages: (id: string) => `pcm/t/${id}/messages`,
  control: (id: string) => `pcm/t/${id}/control`,
  ack: (id: string) => `pcm/t/${id}/ack`,
  reply: (id: string) => `pcm/t/${id}/reply`,
};

export type TopicKind = 'messages' | 'control' | 'ack' | 'reply';

/** Parses `pcm/t/<id>/<kind>`; undefined for anything else (including wildcards). */
export function parseTopic(topic: string): { terminalId: string; kind: TopicKind } | undefined {
  if (!topic.startsWith(TOPIC_PREFIX)) return undefined;
  const rest = topic.slice(TOPIC_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const terminalId = rest.slice(0, slash);
  const kind = rest.slice(slash + 1);
  if (kind !== 'messages' && kind !== 'control' && kind !== 'ack' && kind !== 'reply') return undefined;
  if (terminalId.includes('+') || terminalId.includes('#')) return undefined;
  return { terminalId, kind };
}

/** Terminals publish only to ack/reply and subscribe only to messages/control, all their own. */
export function mayPublish(terminalId: string, topic: string): boolean {
  const t = parseTopic(topic);
  return !!t && t.terminalId === terminalId && (t.kind === 'ack' || t.kind === 'reply');
}

export function maySubscribe(terminalId: string, topic: string): boolean {
  const t = parseTopic(topic);
  return !!t && t.terminalId === terminalId && (t.kind === 'messages' || t.kind === 'control');
}
