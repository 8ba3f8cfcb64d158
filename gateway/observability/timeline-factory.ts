import { join } from 'node:path';
import type { Timeline } from '../ports/timeline.js';
import { MemoryTimeline } from '../adapters/timeline/memory-timeline.js';
import { SqliteTimeline } from '../adapters/timeline/sqlite-timeline.js';

export interface TimelineConfig {
  timeline?: 'memory' | 'sqlite';
  timelineMaxEvents?: number;
  timelineTtlSeconds?: number;
  dataDir?: string;
}

/** PCM_TIMELINE=memory (default) or sqlite (`<dataDir>/timeline.sqlite`, survives restarts). */
export function createTimeline(config: TimelineConfig): Timeline {
  const limits = { maxPerTerminal: config.timelineMaxEvents ?? 200, ttlMs: (config.timelineTtlSeconds ?? 86_400) * 1000 };
  if (config.timeline === 'sqlite') return new SqliteTimeline(join(config.dataDir ?? './data', 'timeline.sqlite'), limits);
  return new MemoryTimeline(limits);
}
