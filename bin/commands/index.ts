import type { Command } from 'commander';
import { register as discovery } from './discovery.js';
import { register as terminal } from './terminal.js';
import { register as operator } from './operator.js';

/** Every subcommand module exports `register(program)`; add new ones here. */
export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [discovery, terminal, operator];
