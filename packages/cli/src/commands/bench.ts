import { Command } from 'commander';
import type { Context } from '../context.js';
import { EXIT_FAILURE, EXIT_OK } from '../errors.js';
import { createProgress } from '../output/progress.js';
import { makeTable, textWidth } from '../output/table.js';
import { selectVendors } from '../vendors.js';
import { runBench, type BenchRow } from '../bench/index.js';

function fmt(v: number | null, digits = 2): string {
  if (v === null || !Number.isFinite(v)) return '-';
  return Math.abs(v) >= 1e5 ? v.toExponential(2) : v.toFixed(digits);
}

/**
 * The rows as printed: one table, targets met in green and missed in red; when the table is wider
 * than the terminal, one line per row instead.
 */
export function renderBench(rows: BenchRow[], paint: Context['io']['paint'], columns?: number): string {
  const t = makeTable(['vendor', 'name', 'value', 'unit', 'baseline', 'ratio', 'target', 'met', 'note'], paint);
  const met = (r: BenchRow) => (r.ok === null ? '' : r.ok ? paint.paint('green', 'yes') : paint.paint('red', 'NO'));
  for (const r of rows) t.push([r.vendor, r.name, fmt(r.value), r.unit, fmt(r.baseline), r.ratio === null ? '-' : `${fmt(r.ratio)}×`, r.target, met(r), r.note ?? '']);
  const wide = t.toString();
  if (columns === undefined || textWidth(wide) <= columns) return wide + '\n';
  return (
    rows
      .map((r) => {
        const ratio = r.ratio === null ? '' : ` = ${fmt(r.ratio)}× of ${fmt(r.baseline)}`;
        const target = r.target && r.target !== 'report' ? `, target ${r.target}: ${met(r)}` : '';
        return `${paint.paint('bold', `${r.vendor} ${r.name}`)}: ${fmt(r.value)} ${r.unit}${ratio}${target}${r.note ? `\n    ${r.note}` : ''}`;
      })
      .join('\n') + '\n'
  );
}

export function benchCommand(ctx: Context): Command {
  return new Command('bench')
    .description('speed and memory of each vendor as ratios against baselines run in the same process ')
    .option('--vendor <name>', "one vendor, a comma-separated list, or 'all'", 'all')
    .option('--quick', 'fewer interleaved runs (well under a minute)')
    .option('--json', 'print one object per row: { vendor, name, value, unit, baseline, ratio, target: { max, of: ratio|value } | null, targetText, met, note }')
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
        const out = rows.map((r) => ({
          vendor: r.vendor,
          name: r.name,
          value: r.value,
          unit: r.unit,
          baseline: r.baseline,
          ratio: r.ratio,
          target: r.targetMax === null ? null : { max: r.targetMax, of: r.targetOf },
          targetText: r.target,
          met: r.ok,
          note: r.note,
        }));
        io.out(JSON.stringify(out, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
      } else {
        io.out(renderBench(rows, io.paint, io.columns));
      }
      ctx.exitCode = rows.some((r) => r.note?.startsWith('error:')) ? EXIT_FAILURE : EXIT_OK;
    });
}
