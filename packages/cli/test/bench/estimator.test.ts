import { describe, expect, it } from 'vitest';
import { disturbed, estimate, interleavedRounds, recordReads, replayReads, verdictOf } from '../../src/bench/measure.js';
import { ratioRow, unsupportedRow, valueRow } from '../../src/bench/rows.js';

/** A timing function that returns the next of `xs` on each call (and counts its calls). */
function seq(xs: number[], log?: string[], name?: string) {
  let i = 0;
  return () => {
    if (log && name) log.push(name);
    return xs[i++ % xs.length];
  };
}

describe('bench estimator (issue 22): median of interleaved rounds, spread, verdict', () => {
  it('estimate: median (odd and even counts), min and max, rounds', () => {
    expect(estimate([5, 1, 9, 3, 7])).toEqual({ median: 5, min: 1, max: 9, rounds: 5 });
    expect(estimate([4, 1, 3, 2])).toEqual({ median: 2.5, min: 1, max: 4, rounds: 4 });
    expect(estimate([2])).toEqual({ median: 2, min: 2, max: 2, rounds: 1 });
    const none = estimate([]);
    expect(none.rounds).toBe(0);
    expect(Number.isNaN(none.median)).toBe(true);
  });

  it('verdict: met when the whole spread is within the target, missed when all above, unstable when it crosses', () => {
    expect(verdictOf({ min: 1, max: 2 }, 2)).toBe('met');
    expect(verdictOf({ min: 2.01, max: 3 }, 2)).toBe('missed');
    expect(verdictOf({ min: 1.9, max: 2.1 }, 2)).toBe('unstable');
    expect(verdictOf({ min: 2, max: 2.1 }, 2)).toBe('unstable');
    expect(verdictOf({ min: 1, max: 9 }, null)).toBe('report');
    expect(verdictOf({ min: NaN, max: NaN }, 2)).toBe('missed');
  });

  it('rounds alternate which side runs first, drop the warm-up, and ratio each subject to the baseline of its own round', () => {
    const log: string[] = [];
    // Baseline: 10 warm-up calls of its own, then per round one call.
    const base = seq([...Array(10).fill(99), 100, 100, 10, 10, 20, 10, 10], log, 'b');
    const subj = seq([100, 100, 30, 20, 60, 50, 10], log, 's');
    // No retries here: round 2's baseline (20, twice the median) would be run again (tested below).
    const r = interleavedRounds({ rounds: 5, warm: 2, retries: 0 }, [subj], base);
    expect(log.slice(10)).toEqual(['b', 's', 's', 'b', 'b', 's', 's', 'b', 'b', 's', 's', 'b', 'b', 's']);
    // Rounds after warm-up: 30/10, 20/10, 60/20, 50/10, 10/10.
    expect(r.ratios[0]).toEqual({ median: 3, min: 1, max: 5, rounds: 5 });
    expect(r.subjects[0]).toEqual({ median: 30, min: 10, max: 60, rounds: 5 });
    expect(r.baseline).toEqual({ median: 10, min: 10, max: 20, rounds: 5 });
  });

  it('inner repetitions keep each side\'s fastest time within a round', () => {
    const base = seq([...Array(10).fill(1), 4, 2, 3, 1]);
    const subj = seq([8, 6, 9, 3]);
    const r = interleavedRounds({ rounds: 2, warm: 0, inner: 2 }, [subj], base);
    expect(r.ratios[0].median).toBeCloseTo((6 / 2 + 3 / 1) / 2);
    expect(r.ratios[0].min).toBe(3);
    expect(r.ratios[0].max).toBe(3);
  });

  it('a round whose baseline strays from the baseline median is run again (bounded), and counted', () => {
    // Warm-up: 10 baseline calls, then rounds of (b, s) or (s, b); inner 1, warm 0.
    // Rounds: b 10 s 30 | s 30 b 10 | b 40 s 90 (disturbed: baseline 4× its median) | s 31 b 10 | b 10 s 29
    // then round 2 again (even: baseline first): b 10 s 32.
    const base = seq([...Array(10).fill(10), 10, 10, 40, 10, 10, 10]);
    const subj = seq([30, 30, 90, 31, 29, 32]);
    const r = interleavedRounds({ rounds: 5, warm: 0 }, [subj], base);
    expect(r.replaced).toBe(1);
    expect(r.ratios[0]).toEqual({ median: 3, min: 2.9, max: 3.2, rounds: 5 });
    expect(r.baseline.max).toBe(10);
  });

  it('a subject slow on its own is kept; a round disturbed past the retries is kept too', () => {
    expect(disturbed(10, [90], 10, [30])).toBe(false);
    expect(disturbed(13, [30], 10, [30])).toBe(true);
    expect(disturbed(7, [30], 10, [30])).toBe(true);
    expect(disturbed(11.5, [40], 10, [30])).toBe(true);
    expect(disturbed(11.5, [31], 10, [30])).toBe(false);
    const base = seq([...Array(10).fill(10), 10, 10, 40, 50, 60]);
    const subj = seq([30, 30, 30, 30, 30]);
    const r = interleavedRounds({ rounds: 3, warm: 0, retries: 2 }, [subj], base);
    expect(r.replaced).toBe(1);
    expect(r.baseline.max).toBe(60);
  });

  it('rows carry median, min, max, verdict and the numeric target', () => {
    const r = ratioRow('v', 'x', 'ns/op', { subject: estimate([3, 4, 5]), baseline: estimate([1, 1, 1]), ratio: estimate([2.5, 3, 3.5]) }, 3, 'n');
    expect(r).toMatchObject({ value: 4, baseline: 1, ratio: 3, median: 3, min: 2.5, max: 3.5, rounds: 3, verdict: 'unstable', targetMax: 3, targetOf: 'ratio', ok: false, target: '≤ 3×' });
    expect(ratioRow('v', 'x', 'ns/op', { subject: estimate([1]), baseline: estimate([1]), ratio: estimate([1, 2]) }, 3)).toMatchObject({ verdict: 'met', ok: true });
    expect(ratioRow('v', 'x', 'ns/op', { subject: estimate([1]), baseline: estimate([1]), ratio: estimate([1, 2]) }, null)).toMatchObject({ verdict: 'report', ok: null, target: 'report' });
    expect(valueRow('v', 'map-huge', 'ms', estimate([0.5, 1.5, 0.7]), 1)).toMatchObject({ median: 0.7, min: 0.5, max: 1.5, verdict: 'unstable', targetOf: 'value', target: '≤ 1 ms', ratio: null });
    expect(unsupportedRow('v', 'dirty-harvest', 'ns/page', 'no')).toMatchObject({ verdict: 'report', target: 'unsupported', note: 'unsupported: no', targetMax: null });
  });

  it('replayed reads: each translation a dependent chain over the recorded addresses, through u32', () => {
    const words = new Map<number, number>([
      [0x1000, 0x2003],
      [0x1004, 0],
      [0x2008, 0x3003],
      [0x200c, 7],
      [0x3000, 0x5],
    ]);
    const seen: number[] = [];
    const mem = {
      u32(pa: number) {
        seen.push(pa);
        return words.get(pa) ?? 0;
      },
    };
    const rec = recordReads(mem, [
      [
        { addr: 0x1000, words: 2 },
        { addr: 0x2008, words: 2 },
      ],
      [{ addr: 0x3000, words: 1 }],
    ]);
    expect([...rec.starts]).toEqual([0, 2, 3]);
    expect([...rec.keys]).toEqual([0x2003, 0x3003 ^ 7, 5]);
    seen.length = 0;
    const ns = replayReads(mem, rec)();
    expect(seen).toEqual([0x1000, 0x1004, 0x2008, 0x200c, 0x3000]);
    expect(ns).toBeGreaterThan(0);
  });
});
