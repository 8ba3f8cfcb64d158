import { PcmError } from '../common/errors.js';

/**
 * Terminal ids travel in URLs, MQTT topics and store keys (`msg::<id>::<seq>`), so the
 * alphabet excludes `/`, `+`, `#` (MQTT wildcards and levels) and whitespace.
 * Extension of DESIGN.md section 5: the contract left the alphabet open; this is it.
 */
export const TERMINAL_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$';
const re = new RegExp(TERMINAL_ID_PATTERN);

export function isValidTerminalId(id: unknown): id is string {
  return typeof id === 'string' && re.test(id);
}

export function assertTerminalId(id: unknown): string {
  if (!isValidTerminalId(id)) {
    throw new PcmError('PCM_ERR_INVALID_TERMINAL_ID', `invalid terminal id ${JSON.stringify(String(id).slice(0, 140))}: expected 1-128 characters of [A-Za-z0-9._:-], starting with a letter or digit`);
  }
  return id;
}
