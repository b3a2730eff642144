import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import type { Context } from '../context.js';
import { EXIT_FAILURE, EXIT_OK, UsageError } from '../errors.js';
import { collectReport } from '../report/collect.js';
import { renderHtml } from '../report/html.js';
import { resolveScenario } from '../scenario/builtins.js';
import { checkScenarioFaults } from '../scenario/faults.js';
import { checkScenarioVendors, selectVendors } from '../vendors.js';
import { packageVersion } from '../version.js';

export function reportCommand(ctx: Context): Command {
  return new Command('report')
    .description('run a scenario on each vendor and write one self-contained HTML page: the step timeline side by side, and every DMA as the hardware walks it, beside the tables it reads')
    .argument('<scenario>', 'a scenario .yaml file or the name of a built-in scenario')
    .option('--vendor <name>', "one vendor, a comma-separated list, or 'all'", 'all')
    .option('-o, --output <file>', "the HTML file to write ('-' for standard output)", 'report.html')
    .option('--json', 'print what was written as JSON (file, bytes, per vendor: status and DMAs traced)')
    .addHelpText(
      'after',
      `
The page needs no network and no graphviz: styles and SVG drawings are inline. Large tables
collapse as the text dump does (unused slots and runs of alike leaves are one row each).

Examples:
  ioasid report 5.4-hardware-nesting -o nesting.html
  ioasid report 5.1-simple-dma --vendor intel-vtd,power-tce -o -`,
    )
    .action(async (arg: string, opts: { vendor: string; output: string; json?: boolean }) => {
      if (opts.output === '') throw new UsageError('--output: give a file name, or - for standard output');
      if (opts.json && opts.output === '-') throw new UsageError('--json and -o - both print to standard output: give a file with -o');
      const scenario = resolveScenario(arg);
      const { vendors } = await ctx.vendors();
      checkScenarioVendors(scenario.spec, scenario.file, vendors);
      checkScenarioFaults(scenario, vendors);
      const regs = selectVendors(opts.vendor, vendors);
      const started = performance.now();
      const data = collectReport(scenario, regs);
      const html = renderHtml(data, packageVersion());
      if (opts.output === '-') ctx.io.out(html);
      else {
        try {
          writeFileSync(opts.output, html);
        } catch (e) {
          throw new UsageError(`--output ${opts.output}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        const walks = data.vendors.reduce((n, v) => n + v.walks.length, 0);
        const kib = (Buffer.byteLength(html) / 1024).toFixed(0);
        const seconds = (performance.now() - started) / 1000;
        if (opts.json) {
          const vendors = data.vendors.map((v) => ({ vendor: v.vendor, status: v.report.status, tracedDmas: v.walks.length }));
          ctx.io.out(JSON.stringify({ file: opts.output, bytes: Buffer.byteLength(html), seconds: Math.round(seconds * 1000) / 1000, vendors }) + '\n');
        } else ctx.io.err(`wrote ${opts.output}: ${kib} KiB, ${data.vendors.length} vendor${data.vendors.length === 1 ? '' : 's'}, ${walks} traced DMA${walks === 1 ? '' : 's'}, in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
      }
      ctx.exitCode = data.vendors.some((v) => v.report.status === 'fail') ? EXIT_FAILURE : EXIT_OK;
    });
}
