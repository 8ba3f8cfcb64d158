import { createRequire } from 'node:module';

/** The package version, shown in the OpenAPI documents. */
export const PCM_VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
