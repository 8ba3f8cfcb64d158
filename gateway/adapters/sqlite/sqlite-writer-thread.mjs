// Worker-thread entry of the SQLite store's writer (sqlite-writer-thread.ts). A worker does
// not inherit the parent's TypeScript loader, so it registers tsx itself, like bin/pcm.js.
import { register } from 'tsx/esm/api';
register();
await import('./sqlite-writer-thread.ts');
