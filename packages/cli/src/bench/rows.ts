/** A benchmark's rows: what each reports, and how a ratio or a value becomes met, missed or unstable. */
import { estimate, verdictOf, type Estimate, type Verdict } from './measure.js';

export interface BenchRow {
  vendor: string;
  name: string;
  /** The subject's median (ns per op, bytes, ms …). */
  value: number;
  unit: string;
  /** The baseline's median, for a ratio row. */
  baseline: number | null;
  /** The median of the rounds' ratios (subject ÷ the baseline of the same round). */
  ratio: number | null;
  /** The figure the target bounds (the ratio, or the value of a value row) over the rounds: median, min and max. */
  median: number | null;
  min: number | null;
  max: number | null;
  /** Rounds the figure is the median of. */
  rounds: number;
  /** Of those, rounds run again because the machine disturbed the first run (its baseline strayed from the baseline's median). */
  replaced: number;
  /** met: the whole spread within the target; missed: all of it beyond; unstable: it crosses the target; report: no target. */
  verdict: Verdict;
  /** The target as printed ('≤ 10×', '≤ 1 ms', 'report'). */
  target: string;
  /** The same as numbers: the largest value allowed, and whether it bounds the ratio or the value itself. */
  targetMax: number | null;
  targetOf: 'ratio' | 'value' | null;
  /** Whether the target is met (null when the row only reports): verdict === 'met'. */
  ok: boolean | null;
  note?: string;
}

export interface BenchSettings {
  /** Timed rounds of every row (after warm-up): ≥ 7, or ≥ 3 with --quick. */
  rounds: number;
  /** Least time a ratio row spends in warm-up rounds (ms). */
  warmMs: number;
  /** Pages mapped by map-4k (1 GiB = 262144). */
  mapPages: number;
  lookups: number;
  /** GiB mapped by map-64g-4k (64; fewer with --quick). */
  bigGiB: number;
  /** Bytes of 4 KiB leaves a dirty harvest reads (1 GiB; less with --quick). */
  harvestBytes: bigint;
  quick: boolean;
}

const ONCE = (x: number): Estimate => estimate([x]);

/** A row whose target bounds subject ÷ baseline; the figure is the median of the rounds' ratios. */
export function ratioRow(vendor: string, name: string, unit: string, r: { subject: Estimate; baseline: Estimate; ratio: Estimate; replaced?: number }, target: number | null, note?: string): BenchRow {
  const verdict = verdictOf(r.ratio, target);
  const replaced = r.replaced ?? 0;
  if (replaced > 0) note = `${note ?? ''}${note ? '; ' : ''}${replaced} of ${r.ratio.rounds} rounds run again (the machine disturbed their baseline)`;
  return {
    vendor,
    name,
    value: r.subject.median,
    unit,
    baseline: r.baseline.median,
    ratio: r.ratio.median,
    median: r.ratio.median,
    min: r.ratio.min,
    max: r.ratio.max,
    rounds: r.ratio.rounds,
    replaced,
    verdict,
    target: target === null ? 'report' : `≤ ${target}×`,
    targetMax: target,
    targetOf: target === null ? null : 'ratio',
    ok: target === null ? null : verdict === 'met',
    note,
  };
}

/** A row measured once (memory): subject ÷ baseline from one measurement. */
export function onceRow(vendor: string, name: string, unit: string, value: number, baseline: number, target: number | null, note?: string): BenchRow {
  return ratioRow(vendor, name, unit, { subject: ONCE(value), baseline: ONCE(baseline), ratio: ONCE(value / baseline) }, target, note);
}

/** A row whose target bounds the value itself (a time in ms). */
export function valueRow(vendor: string, name: string, unit: string, e: Estimate, target: number | null, note?: string): BenchRow {
  const verdict = verdictOf(e, target);
  return {
    vendor,
    name,
    value: e.median,
    unit,
    baseline: null,
    ratio: null,
    median: e.median,
    min: e.min,
    max: e.max,
    rounds: e.rounds,
    replaced: 0,
    verdict,
    target: target === null ? 'report' : `≤ ${target} ${unit}`,
    targetMax: target,
    targetOf: target === null ? null : 'value',
    ok: target === null ? null : verdict === 'met',
    note,
  };
}

/** A row that could not be measured on this vendor (no such feature): it reports why. */
export function unsupportedRow(vendor: string, name: string, unit: string, why: string): BenchRow {
  return { ...valueRow(vendor, name, unit, estimate([]), null, `unsupported: ${why}`), value: NaN, target: 'unsupported' };
}
