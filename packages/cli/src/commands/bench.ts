import { Command } from 'commander';
import type { Context } from '../context.js';
import { EXIT_FAILURE, EXIT_OK } from '../errors.js';
import { createProgress } from '../output/progress.js';
import { makeTable, textWidth } from '../output/table.js';
import { selectVendors } from '../vendors.js';
import { BENCH_NAMES, runBench, type BenchRow } from '../bench/index.js';
import { UsageError } from '../errors.js';

function fmt(v: number | null, digits = 2): string {
  if (v === null || !Number.isFinite(v)) return '-';
  return Math.abs(v) >= 1e5 ? v.toExponential(2) : v.toFixed(digits);
}

/** The spread of a row's figure, min–max (a ratio with ×). */
function spread(r: BenchRow): string {
  if (r.min === null || r.max === null || !Number.isFinite(r.min) || r.rounds < 2) return '';
  const x = r.targetOf === 'value' || r.ratio === null ? '' : '×';
  return `${fmt(r.min)}–${fmt(r.max)}${x}`;
}

function verdictText(r: BenchRow, paint: Context['io']['paint']): string {
  switch (r.verdict) {
    case 'met':
      return paint.paint('green', 'met');
    case 'missed':
      return paint.paint('red', 'MISSED');
    case 'unstable':
      return paint.paint('yellow', 'unstable');
    default:
      return '';
  }
}

/**
 * The rows as printed: one table, each figure the median of its rounds with their spread (min–max)
 * beside it, and the verdict: met in green, missed in red, unstable (the spread crosses the target)
 * in yellow; when the table is wider than the terminal, one line per row instead.
 */
export function renderBench(rows: BenchRow[], paint: Context['io']['paint'], columns?: number): string {
  const t = makeTable(['vendor', 'name', 'value', 'unit', 'baseline', 'ratio', 'spread', 'target', 'verdict', 'note'], paint);
  for (const r of rows) t.push([r.vendor, r.name, fmt(r.value), r.unit, fmt(r.baseline), r.ratio === null ? '-' : `${fmt(r.ratio)}×`, spread(r), r.target, verdictText(r, paint), r.note ?? '']);
  const wide = t.toString();
  if (columns === undefined || textWidth(wide) <= columns) return wide + '\n';
  return (
    rows
      .map((r) => {
        const ratio = r.ratio === null ? '' : ` = ${fmt(r.ratio)}× of ${fmt(r.baseline)}`;
        const sp = spread(r) ? ` (${spread(r)})` : '';
        const target = r.target && r.target !== 'report' && r.target !== 'unsupported' ? `, target ${r.target}: ${verdictText(r, paint)}` : '';
        return `${paint.paint('bold', `${r.vendor} ${r.name}`)}: ${fmt(r.value)} ${r.unit}${ratio}${sp}${target}${r.note ? `\n    ${r.note}` : ''}`;
      })
      .join('\n') + '\n'
  );
}

/** A row as --json prints it: every figure a number (null when it could not be measured). */
export function benchJson(r: BenchRow) {
  return {
    vendor: r.vendor,
    name: r.name,
    value: r.value,
    unit: r.unit,
    baseline: r.baseline,
    ratio: r.ratio,
    median: r.median,
    min: r.min,
    max: r.max,
    rounds: r.rounds,
    replaced: r.replaced,
    verdict: r.verdict,
    target: r.targetMax === null ? null : { max: r.targetMax, of: r.targetOf },
    targetText: r.target,
    met: r.ok,
    note: r.note,
  };
}

export function benchCommand(ctx: Context): Command {
  return new Command('bench')
    .description('speed and memory of each vendor as ratios against baselines run in the same process ')
    .option('--vendor <name>', "one vendor, a comma-separated list, or 'all'", 'all')
    .option('--quick', 'the same estimator with 3 rounds instead of 9, and smaller sizes where the size is not the point')
    .option('--only <names>', `only these benchmarks, comma-separated (${BENCH_NAMES.join(', ')})`)
    .option('--json', 'print one object per row: { vendor, name, value, unit, baseline, ratio, median, min, max, rounds, replaced, verdict: met|missed|unstable|report, target: { max, of: ratio|value } | null, targetText, met, note }')
    .addHelpText(
      'after',
      `
Every ratio is the median of interleaved rounds (after warm-up rounds), each round timing the
subject and its baseline back to back, so a noisy machine moves both alike; the spread beside it
is the smallest and largest round. A round whose baseline strays more than 25% from the
baseline's median (or is 10% slow while a subject is 25% slow) was disturbed by the machine, not
the model: it is run again (at most as many retries as rounds), and the note and --json
'replaced' say how many were. A row whose spread lies within its target is met, above it
missed, and across it unstable. Each benchmark runs in a process of its own. The exit code is 1 only when a benchmark could not run.`,
    )
    .action(async (opts: { vendor: string; quick?: boolean; json?: boolean; only?: string }) => {
      const { vendors } = await ctx.vendors();
      const only = opts.only?.split(',').map((x) => x.trim());
      for (const o of only ?? []) if (!BENCH_NAMES.includes(o)) throw new UsageError(`--only: no benchmark '${o}' (${BENCH_NAMES.join(', ')})`);
      const chosen = selectVendors(opts.vendor, vendors).map((v) => v.vendor);
      const io = ctx.io;
      const progress = createProgress({ tty: io.tty, quiet: opts.json, write: (t) => io.err(t) });
      let rows: BenchRow[];
      try {
        rows = runBench({ vendors: chosen, quick: opts.quick === true, only, isolate: { plugins: ctx.plugins() }, onStep: (label, done, total) => progress.tick(done, total, label) });
      } finally {
        progress.stop();
      }
      if (opts.json) {
        const out = rows.map(benchJson);
        io.out(JSON.stringify(out, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
      } else {
        io.out(renderBench(rows, io.paint, io.columns));
      }
      ctx.exitCode = rows.some((r) => r.note?.startsWith('error:')) ? EXIT_FAILURE : EXIT_OK;
    });
}
