import type { Command } from 'commander';

/** Every subcommand module exports `register(program)`; add new ones here. */
export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [];
