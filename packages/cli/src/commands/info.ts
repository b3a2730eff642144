import { Command } from 'commander';
import { collectVendorInfo } from '../info/collect.js';
import { renderFaults } from '../info/faults.js';
import { renderInfo } from '../info/render.js';
import { toJson } from '../output/json.js';
import { EXIT_FAILURE, EXIT_OK } from '../errors.js';
import { selectVendors } from '../vendors.js';
import type { Context } from '../context.js';

export function infoCommand(ctx: Context): Command {
  return new Command('info')
    .description("GET_INFO of each vendor's default machine, side by side: per device, and of an IOASID after attach")
    .option('--vendor <name>', "one vendor, a comma-separated list, or 'all'", 'all')
    .option('--faults', 'list every fault code each unit can report, with its meaning from the specification')
    .option('--json', 'print JSON (bigints as hex strings)')
    .action(async (opts: { vendor: string; json?: boolean; faults?: boolean }) => {
      const { vendors } = await ctx.vendors();
      if (opts.faults) {
        const regs = selectVendors(opts.vendor, vendors);
        ctx.io.out(opts.json ? toJson({ vendors: regs.map((r) => ({ vendor: r.vendor, faults: r.faults ?? [] })) }) + '\n' : renderFaults(regs, ctx.io.paint));
        ctx.exitCode = EXIT_OK;
        return;
      }
      const views = selectVendors(opts.vendor, vendors).map(collectVendorInfo);
      ctx.io.out(opts.json ? toJson({ vendors: views }) + '\n' : renderInfo(views, ctx.io.paint, ctx.io.columns));
      ctx.exitCode = views.some((v) => v.error) ? EXIT_FAILURE : EXIT_OK;
    });
}

