import type { VendorRegistration } from '@ioasid/core';
import { UsageError } from '../errors.js';
import { checkScenarioVendors, selectVendors } from '../vendors.js';
import { checkScenarioFaults } from './faults.js';
import type { LoadedScenario } from './load.js';
import { runScenario, type ScenarioRun } from './runner.js';

/**
 * `--at`: a 1-based step number, or a step's `as:` name or title. Returns the step number, or
 * undefined for the end of the scenario.
 */
export function stepNumber(sc: LoadedScenario, at: string | undefined): number | undefined {
  if (at === undefined) return undefined;
  const n = sc.spec.steps.length;
  if (/^\d+$/.test(at)) {
    const i = Number(at);
    if (i < 1 || i > n) throw new UsageError(`--at ${at}: scenario '${sc.name}' has steps 1 to ${n}`);
    return i;
  }
  const name = at.replace(/^\$/, '');
  const i = sc.spec.steps.findIndex((s) => s.as === name || s.title?.toLowerCase() === at.toLowerCase());
  if (i < 0) {
    const named = sc.spec.steps.flatMap((s, k) => (s.as ? [`${k + 1} (${s.as})`] : []));
    throw new UsageError(`--at ${at}: no step of '${sc.name}' is numbered, named (as:) or titled so; give 1 to ${n}${named.length ? `, or one of ${named.join(', ')}` : ''}`);
  }
  return i + 1;
}

export interface ScenarioAt {
  reg: VendorRegistration;
  run: ScenarioRun & { state: NonNullable<ScenarioRun['state']> };
  /** The last step run (the whole scenario without `--at`). */
  step: number;
}

/**
 * Runs a scenario up to a step on the vendor asked for, or, without `--vendor`, on the first
 * registered vendor that runs those steps through (a scenario may be written for some vendors
 * only, or need what only some offer). Errors name each vendor's reason.
 */
export function runToStep(sc: LoadedScenario, registered: VendorRegistration[], vendor: string | undefined, at: string | undefined): ScenarioAt {
  if (vendor === 'all' || vendor?.includes(',')) throw new UsageError('this command runs on one vendor: give --vendor <name>');
  checkScenarioVendors(sc.spec, sc.file, registered);
  checkScenarioFaults(sc, registered);
  const until = stepNumber(sc, at);
  const tried: string[] = [];
  for (const reg of selectVendors(vendor, registered)) {
    if (!vendor && sc.spec.vendors && !sc.spec.vendors.includes(reg.vendor)) continue;
    const run = runScenario(sc, reg, { until });
    if (run.report.status === 'pass' && run.state) return { reg, run: run as ScenarioAt['run'], step: until ?? sc.spec.steps.length };
    const bad = run.report.steps.find((s) => s.status === 'fail' || s.status === 'unsupported');
    tried.push(`${reg.vendor}: ${run.report.status}${bad ? ` at step ${bad.index} (${bad.op}${bad.source ? `, ${bad.source}` : ''}): ${bad.detail}` : run.report.error ? ` (${run.report.error})` : ''}`);
  }
  const upTo = until === undefined ? '' : ` up to step ${until}`;
  if (tried.length === 0) throw new UsageError(`no registered vendor runs scenario '${sc.name}' (it is written for ${sc.spec.vendors?.join(', ')})`);
  throw new Error(`scenario '${sc.name}' did not run through${upTo}:\n  ${tried.join('\n  ')}`);
}

/** `--ioasid 3`, or a name the scenario kept with `as:` (`gpa` or `$gpa`), resolved in the run's state. */
export function resolveIoasid(at: ScenarioAt, sc: LoadedScenario, value: string): number {
  if (/^\d+$/.test(value)) return Number(value);
  const name = value.replace(/^\$/, '');
  if (!/^[A-Za-z_][\w-]*$/.test(name)) throw new UsageError(`--ioasid: expected an IOASID number or a scenario name like gpa (got '${value}')`);
  let v: unknown;
  try {
    v = at.run.state.vars.resolve(`$${name}`);
  } catch {
    throw new UsageError(`--ioasid ${name}: scenario '${sc.name}' defines no '${name}'${at.step < sc.spec.steps.length ? ` by step ${at.step}` : ''}`);
  }
  if (typeof v !== 'number') throw new UsageError(`--ioasid ${name}: the scenario's '${name}' is not an IOASID`);
  return v;
}
