import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import type { Context } from '../context.js';
import { EXIT_FAILURE, EXIT_OK, UsageError } from '../errors.js';
import { buildMatrix, countStatuses, errorText, renderMatrix } from '../conformance/matrix.js';
import { loadKit as defaultLoadKit, type CaseResult, type ConformanceKit } from '../conformance/kit.js';
import { createProgress } from '../output/progress.js';
import { toJson } from '../output/json.js';
import { selectVendors } from '../vendors.js';

/** A fast-check seed: any 32-bit integer, as a failure report prints it. */
export function seedArg(value: string): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(n) || n < -(2 ** 31) || n >= 2 ** 32) throw new InvalidArgumentError('expected an integer seed, as a failure report prints it.');
  return n;
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer.');
  return n;
}

export function conformanceCommand(ctx: Context, loadKit: () => Promise<ConformanceKit> = defaultLoadKit): Command {
  return new Command('conformance')
    .description('run the conformance kit on the vendors and print the case × vendor matrix (exit 1 on any failure)')
    .option('--vendor <name>', "one vendor, a comma-separated list, or 'all'", 'all')
    .option('--runs <n>', "runs of each property case (default: the kit's own)", positiveInt)
    .option('--case <ids>', 'only these cases: comma-separated case ids or groups (scenario, contract, property, adversarial)')
    .option('--seed <n>', 'fast-check seed for every property (a failure prints the seed that replays it)', seedArg)
    .option('--save-counterexamples <dir>', "write each failing property's counterexample as a scenario file into <dir> (default: print it)")
    .option('--json', 'print the results as JSON')
    .addHelpText(
      'after',
      `
Examples:
  ioasid conformance                        every vendor, every case
  ioasid conformance --vendor arm-smmuv3 --runs 100
  ioasid conformance --case adversarial --runs 1000   the adversarial group only
  ioasid --plugin ./my-iommu.js conformance --vendor my-iommu
  ioasid conformance --vendor my-iommu --case prop-isolation --seed -2041703766   replay a failure
  ioasid conformance --case property --save-counterexamples ./cex   then: ioasid run ./cex/<file> --vendor <v>

A failing property is shrunk, run once more with every call recorded, and written as a scenario
file whose steps are those calls and whose last step states the check that failed, so that
'ioasid run' replays it to the same failure (printed after the matrix, or saved with
--save-counterexamples; in --json as each result's 'scenario').

Progress lines go to standard error; the matrix (or --json) to standard output.`,
    )
    .action(async (opts: { vendor: string; runs?: number; case?: string; seed?: number; json?: boolean; saveCounterexamples?: string }) => {
      const { vendors } = await ctx.vendors();
      const chosen = selectVendors(opts.vendor, vendors).map((v) => v.vendor);
      const kit = await loadKit();
      const filter = opts.case === undefined ? undefined : caseFilter(opts.case, kit.listCases());
      const io = ctx.io;
      const progress = createProgress({ tty: io.tty, quiet: opts.json, write: (t) => io.err(t) });
      let run;
      try {
        run = await kit.runConformanceAsync({
          vendors: chosen,
          ...(opts.runs !== undefined ? { runs: opts.runs } : {}),
          ...(filter ? { filter } : {}),
          ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
          onCase: (r, done, total) => progress.tick(done, total, `${r.vendor} ${r.id}: ${r.status}`),
        });
      } finally {
        progress.stop();
      }
      const counts = countStatuses(run.results);
      if (opts.json) {
        const results = run.results.map((r) => ({ ...r, error: r.error === undefined ? undefined : errorText(r.error) }));
        io.out(toJson({ vendors: run.vendors, runs: run.runs, ...(opts.seed !== undefined ? { seed: opts.seed } : {}), counts, results }) + '\n');
      } else {
        io.out(renderMatrix(buildMatrix(run.vendors, run.results), io.paint));
        const cex = counterexamples(run.results, opts.saveCounterexamples);
        if (cex) io.out(cex);
        const summary = `${counts.pass} passed, ${counts.fail} failed, ${counts.unsupported} unsupported (${run.vendors.length} vendor${run.vendors.length === 1 ? '' : 's'}, ${run.runs} run${run.runs === 1 ? '' : 's'} per property${opts.seed !== undefined ? `, seed ${opts.seed}` : ''})`;
        io.out(`\n${counts.fail > 0 ? io.paint.paint('red', summary) : io.paint.paint('green', summary)}\n`);
      }
      ctx.exitCode = counts.fail > 0 ? EXIT_FAILURE : EXIT_OK;
    });
}

/**
 * The failing properties' scenario files: printed (each with the command that replays it), or
 * written into `dir` and listed.
 */
function counterexamples(results: CaseResult[], dir: string | undefined): string {
  const found = results.filter((r) => r.status === 'fail' && r.scenario !== undefined);
  if (found.length === 0) return '';
  const out = ['', 'Counterexamples as scenario files:'];
  if (dir !== undefined) mkdirSync(dir, { recursive: true });
  for (const r of found) {
    const how = r.scenarioReplays ? 'replays to the same failure' : 'replays the calls; the failing check is noted at the top';
    if (dir !== undefined) {
      const file = join(dir, `${r.id}-${r.vendor}.yaml`);
      writeFileSync(file, r.scenario!);
      out.push(`  ${r.vendor} ${r.id}: ${file} (${how}): ioasid run ${file} --vendor ${r.vendor}`);
    } else {
      out.push(`  ${r.vendor} ${r.id} (${how}; save it and run: ioasid run <file> --vendor ${r.vendor}):`);
      out.push(...r.scenario!.trimEnd().split('\n').map((l) => `    ${l}`));
    }
  }
  return `${out.join('\n')}\n`;
}

/** The cases `--case` names, by id or by group; a name that is neither is a usage error. */
export function caseFilter(spec: string, cases: { id: string; group: string }[]): (id: string) => boolean {
  const names = spec.split(',').map((x) => x.trim()).filter((x) => x !== '');
  if (names.length === 0) throw new UsageError('--case needs at least one case id or group');
  const ids = new Set<string>();
  for (const n of names) {
    const hit = cases.filter((c) => c.id === n || c.group === n);
    if (hit.length === 0) {
      const groups = [...new Set(cases.map((c) => c.group))].join(', ');
      throw new UsageError(`unknown case or group '${n}' (groups: ${groups}; or a case id such as ${cases[0]?.id ?? 'adv-topology'})`);
    }
    for (const c of hit) ids.add(c.id);
  }
  return (id) => ids.has(id);
}
