import fc from 'fast-check';
import { ConformanceFailure } from '../kit.js';
import { clip } from './show.js';
import { MAX_SHRINKS } from './budget.js';

/**
 * Runs a fast-check property and, on a failure, throws a ConformanceFailure whose first line is
 * the violated rule (the body's own message), followed by what replays it. An exception that is
 * not the kit's own failure escaped a guard: it is reported as such, with its stack.
 */
export function checkProperty<T>(arb: fc.Arbitrary<T>, body: (v: T) => void, numRuns: number, seed?: number): void {
  const out = fc.check(fc.property(fc.limitShrink(arb, MAX_SHRINKS), (v) => body(v)), { numRuns, endOnFailure: false, ...(seed !== undefined ? { seed } : {}) });
  if (!out.failed) return;
  const e = out.errorInstance;
  const replay = `(fast-check seed ${out.seed}, path "${out.counterexamplePath}": failed in run ${out.numRuns}, shrunk ${out.numShrinks} time(s))`;
  const example = `counterexample: ${clip(fc.stringify(out.counterexample), 800)}`;
  if (e instanceof ConformanceFailure) {
    const f = new ConformanceFailure(`${e.message}\n  ${replay}\n  ${example}`);
    if (e.stack) f.stack = `${f.name}: ${f.message}\n${e.stack.split('\n').slice(1).join('\n')}`;
    throw f;
  }
  const what = e instanceof Error ? `${e.name}: ${e.message}` : out.interrupted ? 'the run was interrupted' : String(e);
  const f = new ConformanceFailure(`only IoasidError/DmaFault may leave the API (or a kit guard missed it): ${what}\n  ${replay}\n  ${example}`);
  if (e instanceof Error && e.stack) f.stack = `${f.name}: ${f.message}\n  caused by ${e.stack}`;
  throw f;
}
