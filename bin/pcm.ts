/**
 * `pcm`: one binary, one subcommand per process role (DESIGN.md section 1).
 * Each subcommand lives in bin/commands/<name>.ts and registers itself here.
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { commands } from './commands/index.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command();
program
  .name('pcm')
  .description('PCM: cloud messaging for payment terminals.\nRun `pcm dev` to start the whole platform on this machine.')
  .version(pkg.version)
  .showHelpAfterError();

for (const register of commands) register(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  const e = err as { code?: string; message?: string };
  process.stderr.write(`pcm: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}\n`);
  process.exit(1);
});
