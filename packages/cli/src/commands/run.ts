import { Command } from 'commander';
import type { Context } from '../context.js';
import { EXIT_FAILURE, EXIT_OK, UsageError } from '../errors.js';
import { toJson } from '../output/json.js';
import { makeTable } from '../output/table.js';
import { listBuiltinScenarios, resolveScenario } from '../scenario/builtins.js';
import { renderReport } from '../scenario/report.js';
import { runScenario } from '../scenario/runner.js';
import { checkScenarioFaults } from '../scenario/faults.js';
import { checkScenarioVendors, selectVendors } from '../vendors.js';

export function runCommand(ctx: Context): Command {
  return new Command('run')
    .description('run a scenario file (or a built-in scenario) step by step and report each step')
    .argument('[scenario]', 'a scenario .yaml file, or the name of a built-in scenario (see --list)')
    .option('--vendor <name>', "one vendor, a comma-separated list, or 'all'", 'all')
    .option('--list', 'list the built-in scenarios')
    .option('--json', 'print JSON (bigints as hex strings)')
    .addHelpText(
      'after',
      `
Examples:
  ioasid run --list
  ioasid run 5.4-hardware-nesting              every vendor, one block each
  ioasid run ./my-flow.yaml --vendor intel-vtd --json

Steps are reported ok, <ERRNO> (expected), unsupported (GET_INFO lacks what the step needs),
skipped, FAIL or not run; exit code 1 when a step fails. The scenario format is described in
scenarios/README.md of this package.`,
    )
    .action(async (arg: string | undefined, opts: { vendor: string; list?: boolean; json?: boolean }) => {
      const io = ctx.io;
      if (opts.list) {
        const all = listBuiltinScenarios();
        if (opts.json) {
          io.out(toJson(all.map((s) => ({ name: s.name, flow: s.spec.flow, title: s.spec.title, vendors: s.spec.vendors ?? 'all' }))) + '\n');
        } else {
          const t = makeTable(['name', 'flow', 'title'], io.paint, {});
          for (const s of all) t.push([s.name, s.spec.flow ?? '', s.spec.title]);
          io.out(`${t.toString()}\nRun one with 'ioasid run <name>'; copy a file from the package's scenarios/ folder to write your own.\n`);
        }
        return;
      }
      if (arg === undefined) throw new UsageError("missing scenario: give a file or a built-in name (see 'ioasid run --list')");
      const scenario = resolveScenario(arg);
      const { vendors } = await ctx.vendors();
      checkScenarioVendors(scenario.spec, scenario.file, vendors);
      checkScenarioFaults(scenario, vendors);
      const chosen = selectVendors(opts.vendor, vendors);
      const reports = chosen.map((reg) => runScenario(scenario, reg).report);
      if (opts.json) io.out(toJson({ scenario: scenario.name, file: scenario.file, results: reports }) + '\n');
      else io.out(reports.map((r) => renderReport(r, io.paint)).join('\n'));
      ctx.exitCode = reports.some((r) => r.status === 'fail') ? EXIT_FAILURE : EXIT_OK;
    });
}
