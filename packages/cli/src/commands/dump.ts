import { Command, Option } from 'commander';
import type { Context } from '../context.js';
import { EXIT_OK, UsageError } from '../errors.js';
import { renderDot } from '../dump/dot.js';
import { filterDump, parseRange } from '../dump/filter.js';
import { renderText } from '../dump/text.js';
import { toJson } from '../output/json.js';
import { resolveIoasid, runToStep } from '../scenario/at-step.js';
import { resolveScenario } from '../scenario/builtins.js';

interface DumpOptions {
  ioasid: string;
  vendor?: string;
  format: 'text' | 'json' | 'dot';
  json?: boolean;
  at?: string;
  iova?: string;
  range?: string;
  depth?: string;
}

function depthArg(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`--depth: expected a number of levels below the root table, like 1 (got '${v}')`);
  return Number(v);
}

export function dumpCommand(ctx: Context): Command {
  return new Command('dump')
    .description('run a scenario (up to a step), then print the I/O page table of one IOASID, decoded from memory level by level')
    .argument('<scenario>', 'a scenario .yaml file or the name of a built-in scenario')
    .requiredOption('--ioasid <n>', 'the IOASID to dump: its number, or the name the scenario gave it (as: gpa)')
    .option('--vendor <name>', 'the vendor to run on (default: the first one that runs the scenario through)')
    .option('--at <step>', 'dump the state right after this step: its number (from 1), its as: name or its title')
    .option('--iova <addr>', 'show only the entries that translate this input address')
    .option('--range <a-b|a+size>', 'show only the entries meeting this input range (inclusive end, or a size)')
    .option('--depth <n>', 'show tables down to n levels below the root table')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'dot']).default('text'))
    .option('--json', 'the same as --format json (bigints as hex strings)')
    .addHelpText(
      'after',
      `
Levels are numbered as each vendor's specification numbers them (VT-d 4 = PML4E … 1 = PTE; LPAE
lookup level 0-3 from the start level; TCE levels from the TVE down). Unused slots and runs of
leaves that differ only in their output address print as one line each.

Examples:
  ioasid dump 5.1-simple-dma --ioasid gpa --vendor intel-vtd
  ioasid dump 5.1-simple-dma --ioasid gpa --vendor power-tce --range 0x0+0x10000
  ioasid dump 5.4-hardware-nesting --ioasid giova --at 6 --iova 0x100000
  ioasid dump 5.4-hardware-nesting --ioasid 1 --vendor arm-smmuv3 --format dot | dot -Tsvg > s2.svg`,
    )
    .action(async (arg: string, opts: DumpOptions) => {
      const io = ctx.io;
      const range = parseRange(opts.iova, opts.range);
      if (typeof range === 'string') throw new UsageError(range);
      const depth = depthArg(opts.depth);
      const format = opts.json ? 'json' : opts.format;
      if (opts.json && opts.format !== 'text' && opts.format !== 'json') throw new UsageError(`--json and --format ${opts.format} ask for two outputs: give one`);
      const scenario = resolveScenario(arg);
      const { vendors } = await ctx.vendors();
      const at = runToStep(scenario, vendors, opts.vendor, opts.at);
      const ioasid = resolveIoasid(at, scenario, opts.ioasid);
      const dump = filterDump(at.run.state.fd.dumpPgtable(ioasid), { ...range, depth });
      const head = { scenario: scenario.name, vendor: at.reg.vendor, ioasid, ...(opts.at !== undefined ? { step: at.step } : {}) };
      if (format === 'json') io.out(toJson({ ...head, dump }) + '\n');
      else if (format === 'dot') io.out(renderDot(dump, head));
      else io.out(renderText(dump, head, io.paint));
      ctx.exitCode = EXIT_OK;
    });
}
