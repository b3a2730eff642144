import { Command } from 'commander';
import type { Context } from '../context.js';
import { EXIT_FAILURE, EXIT_OK } from '../errors.js';
import { createProgress } from '../output/progress.js';
import { makeTable } from '../output/table.js';
import { selectVendors } from '../vendors.js';
import { runBench, type BenchRow } from '../bench/index.js';

function fmt(v: number | null, digits = 2): string {
  if (v === null || !Number.isFinite(v)) return '-';
  return Math.abs(v) >= 1e5 ? v.toExponential(2) : v.toFixed(digits);
}

/** The rows as printed: one table per vendor, targets met in green and missed in red. */
export function renderBench(rows: BenchRow[], paint: Context['io']['paint']): string {
  const t = makeTable(['vendor', 'name', 'value', 'unit', 'baseline', 'ratio', 'target', 'met', 'note'], paint);
  for (const r of rows) {
    const met = r.ok === null ? '' : r.ok ? paint.paint('green', 'yes') : paint.paint('red', 'NO');
    t.push([r.vendor, r.name, fmt(r.value), r.unit, fmt(r.baseline), r.ratio === null ? '-' : `${fmt(r.ratio)}×`, r.target, met, r.note ?? '']);
  }
  return t.toString() + '\n';
}

export function benchCommand(ctx: Context): Command {
  return new Command('bench')
    .description('speed and memory of each vendor as ratios against baselines run in the same process (DESIGN §6)')
    .option('--vendor <name>', "one vendor, a comma-separated list, or 'all'", 'all')
    .option('--quick', 'fewer interleaved runs (well under a minute)')
    .option('--json', 'print one object per row: { vendor, name, value, unit, baseline, ratio, target }')
    .addHelpText(
      'after',
      `
Every figure is the median of interleaved runs of the subject and its baseline, so a noisy
machine moves both alike. Missed targets are reported (met = NO); the exit code is 1 only when
a benchmark could not run.`,
    )
    .action(async (opts: { vendor: string; quick?: boolean; json?: boolean }) => {
      const { vendors } = await ctx.vendors();
      const chosen = selectVendors(opts.vendor, vendors).map((v) => v.vendor);
      const io = ctx.io;
      const progress = createProgress({ tty: io.tty, quiet: opts.json, write: (t) => io.err(t) });
      let rows: BenchRow[];
      try {
        rows = runBench({ vendors: chosen, quick: opts.quick === true, onStep: (label, done, total) => progress.tick(done, total, label) });
      } finally {
        progress.stop();
      }
      if (opts.json) {
        const out = rows.map((r) => ({ vendor: r.vendor, name: r.name, value: r.value, unit: r.unit, baseline: r.baseline, ratio: r.ratio, target: r.target, met: r.ok, note: r.note }));
        io.out(JSON.stringify(out, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
      } else {
        io.out(renderBench(rows, io.paint));
      }
      ctx.exitCode = rows.some((r) => r.note?.startsWith('error:')) ? EXIT_FAILURE : EXIT_OK;
    });
}
