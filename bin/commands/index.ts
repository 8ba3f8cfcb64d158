import type { Command } from 'commander';
import { register as discovery } from './discovery.js';
import { register as terminal } from './terminal.js';
import { register as operator } from './operator.js';
import { register as dev } from './dev.js';
import { register as gateway } from './gateway.js';
import { register as send } from './send.js';
import { register as request } from './request.js';
import { register as token } from './token.js';
import { register as bench } from './bench.js';
import { register as events } from './events.js';
import { register as purge } from './purge.js';

/** Every subcommand module exports `register(program)`; add new ones here. */
export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [dev, gateway, discovery, terminal, send, request, token, operator, bench, events, purge];
