import { Command, Option } from 'commander';
import type { Context } from '../context.js';
import { EXIT_OK, UsageError } from '../errors.js';
import { renderDot } from '../dump/dot.js';
import { renderText } from '../dump/text.js';
import { toJson } from '../output/json.js';
import { resolveScenario } from '../scenario/builtins.js';
import { renderReport } from '../scenario/report.js';
import { runScenario } from '../scenario/runner.js';
import { selectVendors } from '../vendors.js';

/** `--ioasid 3`, or a name the scenario kept with `as:` (`gpa` or `$gpa`). */
function ioasidArg(value: string): number | string {
  if (/^\d+$/.test(value)) return Number(value);
  const name = value.replace(/^\$/, '');
  if (!/^[A-Za-z_][\w-]*$/.test(name)) throw new UsageError(`--ioasid: expected an IOASID number or a scenario name like gpa (got '${value}')`);
  return name;
}

export function dumpCommand(ctx: Context): Command {
  return new Command('dump')
    .description('run a scenario, then print the I/O page table of one IOASID, decoded from memory level by level')
    .argument('<scenario>', 'a scenario .yaml file or the name of a built-in scenario')
    .requiredOption('--ioasid <n>', 'the IOASID to dump: its number, or the name the scenario gave it (as: gpa)')
    .option('--vendor <name>', 'the vendor to run on (default: the first one the scenario can use)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'dot']).default('text'))
    .addHelpText(
      'after',
      `
Examples:
  ioasid dump 5.1-simple-dma --ioasid gpa --vendor intel-vtd
  ioasid dump 5.4-hardware-nesting --ioasid 1 --vendor arm-smmuv3 --format dot | dot -Tsvg > s2.svg`,
    )
    .action(async (arg: string, opts: { ioasid: string; vendor?: string; format: 'text' | 'json' | 'dot' }) => {
      const io = ctx.io;
      const wanted = ioasidArg(opts.ioasid);
      const scenario = resolveScenario(arg);
      const { vendors } = await ctx.vendors();
      if (opts.vendor === 'all' || opts.vendor?.includes(',')) throw new UsageError('dump runs on one vendor: give --vendor <name>');
      const candidates = selectVendors(opts.vendor, vendors).filter((v) => opts.vendor || !scenario.spec.vendors || scenario.spec.vendors.includes(v.vendor));
      if (candidates.length === 0) throw new Error(`no registered vendor runs scenario '${scenario.name}' (it is written for ${scenario.spec.vendors?.join(', ')})`);
      const reg = candidates[0];
      const { report, state } = runScenario(scenario, reg);
      if (report.status !== 'pass' || !state) {
        io.err(renderReport(report, { enabled: false, paint: (_s, t) => t }));
        throw new Error(`scenario '${scenario.name}' did not complete on ${reg.vendor} (${report.status}); nothing to dump`);
      }
      let ioasid: number;
      if (typeof wanted === 'number') ioasid = wanted;
      else {
        let v: unknown;
        try {
          v = state.vars.resolve(`$${wanted}`);
        } catch {
          throw new UsageError(`--ioasid ${wanted}: scenario '${scenario.name}' defines no '${wanted}'`);
        }
        if (typeof v !== 'number') throw new UsageError(`--ioasid ${wanted}: the scenario's '${wanted}' is not an IOASID`);
        ioasid = v;
      }
      const dump = state.fd.dumpPgtable(ioasid);
      const head = { scenario: scenario.name, vendor: reg.vendor, ioasid };
      if (opts.format === 'json') io.out(toJson({ ...head, dump }) + '\n');
      else if (opts.format === 'dot') io.out(renderDot(dump, head));
      else io.out(renderText(dump, head, io.paint));
      ctx.exitCode = EXIT_OK;
    });
}
