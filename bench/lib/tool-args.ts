/**
 * The command line of the measurement tools (bench/*-cpu.ts): `--help`, an optional leading
 * word (the mode), `--name value` options; a bad value throws naming the option, with usage.
 */
export function toolArgs(help: string) {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${help}\n`);
    process.exit(0);
  }
  const opt = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const oneOf = <T extends string>(what: string, v: string, choices: readonly T[]): T => {
    if (!(choices as readonly string[]).includes(v)) throw new Error(`${what} must be ${choices.join(' or ')} (got ${v})\n${help}`);
    return v as T;
  };
  return {
    opt,
    /** The leading word if there is one (not an option), else `dflt`; one of `choices`. */
    mode<T extends string>(choices: readonly T[], dflt: T): T {
      const w = argv[0] && !argv[0].startsWith('--') ? argv[0] : dflt;
      return oneOf('the mode', w, choices);
    },
    /** `--name`, one of `choices`, else `dflt`. */
    choice<T extends string>(name: string, choices: readonly T[], dflt: T): T {
      return oneOf(`--${name}`, opt(name) ?? dflt, choices);
    },
    /** `--name` as a whole number in [min, max], else `dflt`. */
    count(name: string, dflt: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
      const v = Number(opt(name) ?? dflt);
      if (!Number.isInteger(v) || v < min || v > max) {
        const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
        throw new Error(`--${name} must be a whole number ${range}\n${help}`);
      }
      return v;
    },
  };
}
