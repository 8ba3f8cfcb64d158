#!/usr/bin/env node
// Launcher: runs the TypeScript CLI through tsx so `npm start`, `npx pcm` and the
// container image all execute the same sources without a separate build step.
import { register } from 'tsx/esm/api';
register();
await import('./pcm.ts');
