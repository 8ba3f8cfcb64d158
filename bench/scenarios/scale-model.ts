/** The 10-million-terminal scale-out model (bench/scale-model.ts) as a `pcm bench` scenario. */
import type { Scenario } from '../lib/scenario.js';
import { runScaleModel } from '../scale-model.js';

export const scaleModel: Scenario = {
  name: 'scale-model',
  title: 'Scale-out model: 10M terminals over 100 gateways',
  summary: 'simulation: rendezvous moves per scale step, relay events and store ops per message, reconnect storm',
  run: async (ctx) => runScaleModel({ sampleTerminals: ctx.quick ? 20_000 : 1_000_000, log: ctx.log }),
};
