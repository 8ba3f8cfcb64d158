import { InvalidArgumentError, type Command } from 'commander';

/** `pcm bench [scenario...]`: the reproducible benchmark suite (issue 10; docs/benchmarks.md). */
export function register(program: Command): void {
  program
    .command('bench')
    .summary('run benchmark scenarios beside their baselines')
    .description(
      'Run named benchmark scenarios, each beside its baseline in the same run; prints a table with the machine\n' +
        'and writes bench/results/<scenario>.json and .svg. With no names, runs every scenario except scale100k and storm.\n' +
        'Scenarios: latency, throughput, http, memory, connections, drain, discovery, scale100k, scale-model, storm (--list describes them).\n' +
        'Run on a quiet machine: other load skews the ratios. See docs/benchmarks.md.',
    )
    .argument('[scenario...]', 'scenario names')
    .option('--quick', 'small sizes: a smoke run of a few seconds per scenario', false)
    .option('--list', 'list the scenarios and exit', false)
    .option('--rounds <n>', 'rounds per scenario, combined by median (default: 3 for latency, throughput, http and drain, else 1; 1 with --quick)', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 20) throw new InvalidArgumentError('--rounds must be an integer from 1 to 20');
      return n;
    })
    .action(async (names: string[], opts: { quick: boolean; list: boolean; rounds?: number }) => {
      const { runBench, scenarios } = await import('../../bench/runner.js');
      if (opts.list) {
        for (const s of scenarios) process.stdout.write(`${s.name.padEnd(12)} ${s.summary}\n`);
        return;
      }
      try {
        await runBench(names, { quick: opts.quick, rounds: opts.rounds });
      } catch (err) {
        process.stderr.write(`pcm bench: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
