import { Command } from 'commander';
import { collectVendorInfo } from '../info/collect.js';
import { renderInfo } from '../info/render.js';
import { toJson } from '../output/json.js';
import { EXIT_FAILURE, EXIT_OK } from '../errors.js';
import { selectVendors } from '../vendors.js';
import type { Context } from '../context.js';

export function infoCommand(ctx: Context): Command {
  return new Command('info')
    .description("GET_INFO of each vendor's default machine, side by side: per device, and of an IOASID after attach")
    .option('--vendor <name>', "one vendor, a comma-separated list, or 'all'", 'all')
    .option('--json', 'print JSON (bigints as hex strings)')
    .action(async (opts: { vendor: string; json?: boolean }) => {
      const { vendors } = await ctx.vendors();
      const views = selectVendors(opts.vendor, vendors).map(collectVendorInfo);
      ctx.io.out(opts.json ? toJson({ vendors: views }) + '\n' : renderInfo(views, ctx.io.paint));
      ctx.exitCode = views.some((v) => v.error) ? EXIT_FAILURE : EXIT_OK;
    });
}

