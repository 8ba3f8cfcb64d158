import { describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { describeConfig, loadConfig } from './config.js';
import { loadTerminalConfig } from '../client/terminal-config.js';

const Schema = Type.Object({
  httpPort: Type.Integer({ default: 8080, minimum: 1, maximum: 65535, description: 'port' }),
  store: Type.Union([Type.Literal('memory'), Type.Literal('sqlite')], { default: 'sqlite', description: 'store' }),
  terminalProtocol: Type.Union([Type.Literal('websocket'), Type.Literal('mqtt')], { flag: '--protocol', default: 'websocket', description: 'transport' }),
});

const fails = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('did not fail');
};

describe('loadConfig errors name the field, its env var and the flag the user types', () => {
  it('derives the flag from the name unless the schema gives one', () => {
    expect(fails(() => loadConfig(Schema, { env: { PCM_HTTP_PORT: '70000' } }))).toBe('invalid configuration: httpPort (PCM_HTTP_PORT / --http-port) must be <= 65535, got 70000');
    expect(fails(() => loadConfig(Schema, { env: { PCM_TERMINAL_PROTOCOL: 'tcp' } }))).toContain('terminalProtocol (PCM_TERMINAL_PROTOCOL / --protocol)');
  });

  it('a choice lists what it accepts', () => {
    expect(fails(() => loadConfig(Schema, { flags: { store: 'redis' } }))).toContain('store (PCM_STORE / --store) must be one of memory, sqlite, got "redis"');
    expect(fails(() => loadConfig(Schema, { env: { PCM_TERMINAL_PROTOCOL: 'tcp' } }))).toContain('must be one of websocket, mqtt, got "tcp"');
  });

  it('the configuration table uses the same flag', () => {
    expect(describeConfig(Schema)).toEqual([
      '| `PCM_HTTP_PORT` | `--http-port` | `8080` | port |',
      '| `PCM_STORE` | `--store` | `sqlite` | store |',
      '| `PCM_TERMINAL_PROTOCOL` | `--protocol` | `websocket` | transport |',
    ]);
  });

  it('pcm terminal: every setting names the flag the command really has', () => {
    expect(fails(() => loadTerminalConfig({ env: { PCM_TERMINAL_FAILOVER_AFTER: '-1' } }))).toContain('terminalFailoverAfter (PCM_TERMINAL_FAILOVER_AFTER / --failover-after) must be >= 0, got -1');
    expect(fails(() => loadTerminalConfig({ env: { PCM_TERMINAL_PROFILE: 'eager' } }))).toContain('(PCM_TERMINAL_PROFILE / --profile) must be one of aggressive, normal, passive');
    expect(loadTerminalConfig({ env: {} })).toMatchObject({ terminalFailoverAfter: 2, terminalFailoverAvoidSeconds: 60 });
  });
});
