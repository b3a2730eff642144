import fc from 'fast-check';
import { propertyFailure } from '../replay/property.js';
import { MAX_SHRINKS } from './budget.js';

/**
 * Runs a fast-check property and, on a failure, throws a ConformanceFailure whose first line is
 * the violated rule (the body's own message), followed by what replays it (the seed, and a
 * scenario file when the run's calls can be written as one). An exception that is not the kit's
 * own failure escaped a guard: it is reported as such, with its stack.
 */
export function checkProperty<T>(arb: fc.Arbitrary<T>, body: (v: T) => void, numRuns: number, seed: number | undefined, at: { caseId: string; vendor: string }): void {
  const out = fc.check(fc.property(fc.limitShrink(arb, MAX_SHRINKS), (v) => body(v)), { numRuns, endOnFailure: false, ...(seed !== undefined ? { seed } : {}) });
  if (out.failed) throw propertyFailure(out, body, at);
}
