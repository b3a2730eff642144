import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { executeCase, runConformance } from '../src/runner.js';
import { fcParams } from '../src/properties/common.js';
import type { CaseDef, Caps, KitEnv } from '../src/types.js';

const env: KitEnv = { vendor: 'none', runs: 3, machineOptions: {} };

describe('a failing property says why, and can be replayed', () => {
  it('the cause fast-check keeps in error.cause comes right after the first line', () => {
    const def: CaseDef = {
      id: 'prop-demo',
      title: 'demo',
      group: 'property',
      run: () => {
        fc.assert(
          fc.property(fc.integer(), (n) => {
            if (n > 5) throw new Error(`EINVAL: the real reason (n = ${n})`);
          }),
          { numRuns: 200, seed: 42 },
        );
      },
    };
    const { result } = executeCase(def, env, {} as Caps);
    expect(result.status).toBe('fail');
    const lines = String(result.error).split('\n');
    expect(lines[0]).toMatch(/^Property failed after \d+ tests/);
    expect(lines[1]).toBe('Caused by: Error: EINVAL: the real reason (n = 6)');
  });

  it('the seed a run is given reaches fast-check: the same seed finds the same counterexample', () => {
    const seen: number[] = [];
    const def: CaseDef = {
      id: 'prop-seeded',
      title: 'seeded',
      group: 'property',
      run: (e) => {
        fc.assert(
          fc.property(fc.integer({ min: 0, max: 1_000_000 }), (n) => {
            if (n % 7 === 3) {
              seen.push(n);
              throw new Error('found');
            }
          }),
          { numRuns: 1000, ...(e.seed !== undefined ? { seed: e.seed } : {}), endOnFailure: true },
        );
      },
    };
    executeCase(def, { ...env, seed: 1234 }, {} as Caps);
    executeCase(def, { ...env, seed: 1234 }, {} as Caps);
    expect(seen).toHaveLength(2);
    expect(seen[0]).toBe(seen[1]);
    // Every property of the kit takes its parameters from the env: the seed is among them.
    expect(fcParams({ ...env, seed: 1234 })).toEqual({ numRuns: 3, endOnFailure: false, seed: 1234 });
    expect(fcParams(env)).toEqual({ numRuns: 3, endOnFailure: false });
    expect(() => runConformance({ vendors: [], seed: 1.5 })).toThrow(/seed must be an integer/);
    expect(runConformance({ vendors: [], seed: 9 }).seed).toBe(9);
  });
});
