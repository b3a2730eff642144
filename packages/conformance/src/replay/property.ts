import fc from 'fast-check';
import { ConformanceFailure } from '../kit.js';
import { clip } from '../adversarial/show.js';
import { Journal, recording } from './journal.js';
import { scenarioText } from './scenario-text.js';

/** What a failing property leaves for a replay: the scenario and how it was found. */
export interface Counterexample {
  /** The scenario file text (`ioasid run` replays it to the same failure when `replays`). */
  scenario?: string;
  /** True when the scenario's last step states the failing check. */
  replays: boolean;
  /** Why there is no scenario (e.g. the run opens a second fd). */
  noScenario?: string;
  /** fast-check's own account: seed, path, shrinks, the shrunk value. */
  found: string;
}

/** An error that carries the counterexample of the property that threw it. */
export interface WithCounterexample {
  counterexample?: Counterexample;
}

/**
 * Runs the body once more on fast-check's shrunk counterexample with a journal recording every
 * call, and writes the calls as a scenario (the failing check's expectation on the last step).
 */
export function replayCounterexample<T>(body: (v: T) => void, value: T, meta: { caseId: string; vendor: string; found: string }): Counterexample {
  const j = new Journal();
  let again: unknown;
  try {
    recording(j, () => body(value));
  } catch (e) {
    again = e;
  }
  if (again === undefined) return { replays: false, noScenario: 'the counterexample passed when run again (the failure depends on something outside the calls)', found: meta.found };
  if (j.unreplayable) return { replays: false, noScenario: j.unreplayable, found: meta.found };
  if (!j.machine) return { replays: false, noScenario: 'the run made no kit machine', found: meta.found };
  const failure = again instanceof Error ? again.message : String(again);
  return { scenario: scenarioText(j, { ...meta, failure }), replays: j.failedAt !== undefined, found: meta.found };
}

/** fast-check's report of a failed run, in one line. */
export function foundText<T>(out: fc.RunDetails<[T]>): string {
  return `fast-check seed ${out.seed}, path "${out.counterexamplePath}": failed in run ${out.numRuns}, shrunk ${out.numShrinks} time(s)`;
}

/** The text a failure message ends with: the scenario, or why there is none. */
export function counterexampleText(c: Counterexample): string {
  if (!c.scenario) return `  (no scenario file: ${c.noScenario})`;
  const how = c.replays ? 'replays to the same failure' : 'replays the calls; the failing check is a comment at its top';
  return `  as a scenario file (${how}):\n${c.scenario.trimEnd().split('\n').map((l) => `    ${l}`).join('\n')}`;
}

/**
 * The failure a property case throws: the violated rule first (the body's own message), then how
 * it was found, the shrunk value, and the scenario that replays it. The original error is the
 * cause; an error that is not the kit's own failure escaped a guard and is reported as such.
 */
export function propertyFailure<T>(out: fc.RunDetails<[T]>, body: (v: T) => void, meta: { caseId: string; vendor: string }): ConformanceFailure & WithCounterexample {
  const e = out.errorInstance;
  const found = foundText(out);
  const value = out.counterexample?.[0] as T;
  const c = out.counterexample ? replayCounterexample(body, value, { ...meta, found }) : { replays: false, noScenario: 'fast-check gave no counterexample', found };
  const example = `counterexample: ${clip(fc.stringify(value), 800)}`;
  const first = e instanceof ConformanceFailure
    ? (e as Error).message
    : `only IoasidError/DmaFault may leave the API (or a kit guard missed it): ${e instanceof Error ? `${e.name}: ${e.message}` : out.interrupted ? 'the run was interrupted' : String(e)}`;
  const f: ConformanceFailure & WithCounterexample = new ConformanceFailure(`${first}\n  (${found})\n  ${example}\n${counterexampleText(c)}`);
  f.cause = e;
  f.counterexample = c;
  if (e instanceof Error && e.stack) f.stack = `${f.name}: ${f.message}\n  caused by ${e.stack}`;
  return f;
}

