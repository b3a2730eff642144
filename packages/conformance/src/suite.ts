import type { KitEnv } from './types.js';
import { CASES } from './cases.js';
import { executeCase, normalizeRuns, safeProbe, unsupportedReason } from './runner.js';

type Vitest = typeof import('vitest');

/**
 * vitest is an optional peer: it is loaded only inside a vitest run (which sets VITEST), so the
 * CLI and other programmatic users never pay for it.
 */
const vitest: Vitest | undefined = typeof process !== 'undefined' && process.env.VITEST ? await import('vitest') : undefined;

/** Per-case time limit inside vitest (properties run many machines). */
const CASE_TIMEOUT_MS = 600_000;

/**
 * Registers one vitest `describe` for the vendor with one `it` per case. An unsupported case is
 * a passing test titled "<title> (unsupported: reason)" — the vendor rejected the command with
 * the right errno; a failing case throws what the case threw.
 */
export function defineConformanceSuite(opts: {
  vendor: string;
  machineOptions?: Record<string, unknown>;
  runs?: number;
  /** The describe title (default `conformance: <vendor>`). */
  title?: string;
  /** Only the cases whose id passes. */
  filter?: (id: string) => boolean;
}): void {
  if (!vitest) throw new Error('defineConformanceSuite must be called from a vitest test file (use runConformance elsewhere)');
  const { describe, it } = vitest;
  const env: KitEnv = { vendor: opts.vendor, runs: normalizeRuns(opts.runs), machineOptions: opts.machineOptions ?? {} };
  describe(opts.title ?? `conformance: ${opts.vendor}`, () => {
    const caps = safeProbe(env);
    for (const def of CASES.filter((c) => !opts.filter || opts.filter(c.id))) {
      let title = `${def.id} — ${def.title}`;
      if (!(caps instanceof Error)) {
        const reason = unsupportedReason(def, caps);
        if (reason !== null) title += ` (unsupported: ${reason})`;
      }
      it(title, { timeout: CASE_TIMEOUT_MS }, async (ctx) => {
        const { result, thrown } = executeCase(def, env, caps);
        // The counts a case reports (sequences, DMAs, probes) go to the reporter as an annotation.
        if (result.detail) await ctx.annotate(result.detail);
        if (result.status === 'fail') throw thrown instanceof Error ? thrown : new Error(result.error);
      });
    }
  });
}
