/** Timing helpers: every figure is a ratio against a baseline run interleaved in the same process. */

export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** A figure over rounds: the median, and the spread as the smallest and largest round. */
export interface Estimate {
  median: number;
  min: number;
  max: number;
  /** Rounds it is the median of. */
  rounds: number;
}

/** The median and min–max of the rounds (NaN everywhere when there are none). */
export function estimate(xs: readonly number[]): Estimate {
  if (xs.length === 0) return { median: NaN, min: NaN, max: NaN, rounds: 0 };
  let min = Infinity;
  let max = -Infinity;
  for (const x of xs) {
    if (x < min) min = x;
    if (x > max) max = x;
  }
  return { median: median([...xs]), min, max, rounds: xs.length };
}

/** What a row says of its target: 'report' when it has none. */
export type Verdict = 'met' | 'missed' | 'unstable' | 'report';

/**
 * Met when every round is within the target (the spread lies at or below it), missed when none is
 * (the whole spread lies above it), unstable when the spread crosses it: that row's met or missed
 * would flip between runs, so it claims neither. A figure that could not be measured is missed.
 */
export function verdictOf(e: Pick<Estimate, 'min' | 'max'>, target: number | null): Verdict {
  if (target === null) return 'report';
  if (!(e.min <= e.max)) return 'missed';
  if (e.max <= target) return 'met';
  if (e.min > target) return 'missed';
  return 'unstable';
}

/** Calls of a baseline before the first round (V8 tiers a loop up over its first few calls). */
const BASELINE_WARM = 10;

/** How interleavedRounds runs: timed rounds, warm-up rounds (and at least `warmMs` of them), repetitions per round, retries. */
export interface RoundOptions {
  rounds: number;
  warm?: number;
  /** Keep warming up until this many milliseconds have gone into warm-up rounds (0: just `warm` rounds). */
  warmMs?: number;
  inner?: number;
  retries?: number;
}

/** The most warm-up rounds a `warmMs` may add up to. */
const MAX_WARM_ROUNDS = 60;

/** Per round: each subject's time, the baseline's, and each subject ÷ the baseline of the same round. */
export interface RoundsResult {
  subjects: Estimate[];
  baseline: Estimate;
  ratios: Estimate[];
  /** Rounds run again because the machine disturbed them (see `disturbed`). */
  replaced: number;
}

/**
 * How far a round's baseline may stray from the baseline's median before the round counts as
 * disturbed: the baseline is a plain loop with no model logic in it, so when its time moves by
 * more than this the machine (a preempted process, an evicted cache) moved it, not the model.
 */
export const BASELINE_OFF = 1.25;
/** A round whose subject is this much over its median while the baseline is over its own by BOTH_SLOW_BASE is disturbed too. */
export const BOTH_SLOW_SUBJECT = 1.25;
export const BOTH_SLOW_BASE = 1.1;

/**
 * Whether a round was disturbed by the machine rather than by what it measures: its baseline off
 * the baseline median by more than BASELINE_OFF (either way), or the baseline and a subject both
 * slow at once. A subject slow on its own is never grounds: that may be the model.
 */
export function disturbed(b: number, s: readonly number[], baseMedian: number, subjectMedians: readonly number[]): boolean {
  if (b > baseMedian * BASELINE_OFF || b * BASELINE_OFF < baseMedian) return true;
  return b > baseMedian * BOTH_SLOW_BASE && s.some((x, k) => x > subjectMedians[k] * BOTH_SLOW_SUBJECT);
}

/**
 * The estimator of every ratio row: `warm` discarded rounds (so the optimiser has compiled both
 * sides; the baseline is called a few more times before them), then `rounds` rounds, each running the baseline and the subjects back to back, the
 * baseline first in even rounds and last in odd ones, so a slow phase of a noisy machine falls on
 * both sides of a round alike. With `inner` > 1 a round repeats that `inner` times and keeps each
 * side's fastest time: on a shared machine a measurement is only ever slowed down (preempted,
 * its cache evicted), so the fastest of a few is the one least disturbed. Each round's
 * ratio is its subject ÷ its own baseline; the row is the median of those ratios, and their min
 * and max are its spread.
 *
 * A round the machine disturbed (`disturbed`: judged by the baseline, against the medians of all
 * the rounds) is run again, in the same order of sides, until it is not or the retries run out
 * (`retries` in all, by default as many as there are rounds); a round still disturbed then is kept.
 * `replaced` says how many rounds were run again and kept in place of the first.
 */
export function interleavedRounds(opts: RoundOptions, subjects: (() => number)[], baseline: () => number): RoundsResult {
  const inner = Math.max(1, opts.inner ?? 1);
  const warm = opts.warm ?? 3;
  const times = subjects.map(() => [] as number[]);
  const base: number[] = [];
  const round = (r: number): { b: number; s: number[] } => {
    let b = Infinity;
    const s = subjects.map(() => Infinity);
    for (let i = 0; i < inner; i++) {
      const first = ((r + warm) * inner + i) % 2 === 0;
      if (first) b = Math.min(b, baseline());
      for (let k = 0; k < subjects.length; k++) s[k] = Math.min(s[k], subjects[k]());
      if (!first) b = Math.min(b, baseline());
    }
    return { b, s };
  };
  // IOASID_BENCH_DEBUG=1 prints every round's ratios and times (warm-up rounds negative) on stderr.
  const debug = (r: number | string, x: { b: number; s: number[] }) => {
    if (process.env.IOASID_BENCH_DEBUG) process.stderr.write(`round ${r}: ${x.s.map((v) => (v / x.b).toFixed(2)).join(' ')} (${x.s.map((v) => v.toFixed(2)).join(' ')} ÷ ${x.b.toFixed(2)})\n`);
  };
  // A baseline is a short loop: its first calls run before the optimiser has compiled it (two to
  // three times slower), so it gets warm-up calls of its own before the warm rounds.
  for (let i = 0; i < BASELINE_WARM; i++) baseline();
  // Warm-up: rounds until `warmMs` have passed (at most MAX_WARM_ROUNDS − warm of them), then the
  // `warm` rounds: V8 optimises after so many calls and loop iterations, so a row of short rounds
  // needs many of them before its code stops changing (map-scaling's went from 8 to 5 ns per page
  // in its timed rounds after 3 warm-up rounds).
  const warmEnd = nowNs() + (opts.warmMs ?? 0) * 1e6;
  for (let extra = 0; extra < MAX_WARM_ROUNDS - warm && nowNs() < warmEnd; extra++) {
    const x = round(-warm - 1);
    debug('warm', x);
  }
  for (let r = -warm; r < opts.rounds; r++) {
    const x = round(r);
    debug(r, x);
    if (r < 0) continue;
    base.push(x.b);
    for (let k = 0; k < subjects.length; k++) times[k].push(x.s[k]);
  }
  const baseMedian = median(base);
  const subjectMedians = times.map(median);
  let retries = opts.retries ?? opts.rounds;
  let replaced = 0;
  for (let r = 0; r < opts.rounds && retries > 0; r++) {
    let x = { b: base[r], s: times.map((t) => t[r]) };
    if (!disturbed(x.b, x.s, baseMedian, subjectMedians)) continue;
    while (retries > 0 && disturbed(x.b, x.s, baseMedian, subjectMedians)) {
      retries--;
      x = round(r);
      debug(`${r} again`, x);
    }
    base[r] = x.b;
    for (let k = 0; k < subjects.length; k++) times[k][r] = x.s[k];
    replaced++;
  }
  return {
    subjects: times.map(estimate),
    baseline: estimate(base),
    ratios: times.map((t) => estimate(t.map((x, i) => x / base[i]))),
    replaced,
  };
}

/** Runs subject and baseline in interleaved rounds; the subject's rounds, the baseline's and their ratio. */
export function interleaved(opts: RoundOptions, subject: () => number, baseline: () => number): { subject: Estimate; baseline: Estimate; ratio: Estimate; replaced: number } {
  const r = interleavedRounds(opts, [subject], baseline);
  return { subject: r.subjects[0], baseline: r.baseline, ratio: r.ratios[0], replaced: r.replaced };
}

/** A figure with no baseline (a time target such as map-huge's): per round the fastest of `inner` runs. */
export function repeated(opts: { rounds: number; warm?: number; inner?: number }, once: () => number): Estimate {
  const xs: number[] = [];
  for (let r = -(opts.warm ?? 1); r < opts.rounds; r++) {
    let x = Infinity;
    for (let i = 0; i < (opts.inner ?? 1); i++) x = Math.min(x, once());
    if (r >= 0) xs.push(x);
  }
  return estimate(xs);
}

/**
 * The entry-write loop, a function of its own: as a loop inside the baseline's closure, V8 left
 * it in code about 1.45 ns per entry once the closure's buffer trials were over (some processes
 * kept the 1.0 ns code), so the limit switched between two modes from run to run; on its own it
 * is optimised like any hot function and takes 0.9–1.1 ns.
 */
function writeEntries(w: Uint32Array, entries: number): void {
  for (let i = 0; i < entries; i++) {
    w[2 * i] = ((i << 12) | 3) >>> 0;
    w[2 * i + 1] = i >>> 20;
  }
}

/**
 * Baseline "physical limit": writing `entries` 64-bit entries (two 32-bit words) into a
 * preallocated typed array. How fast one 2 MiB buffer takes writes depends on how the kernel
 * happened to back it (a transparent huge page or 512 small ones), which differs from process to
 * process: so the first calls (the warm-up) try a few buffers and the rest use the fastest, and
 * the limit does not jump between a fast and a slow mode from one run to the next.
 */
export function entryWriteBaseline(entries: number): () => number {
  const candidates = Array.from({ length: 4 }, () => new Uint32Array(entries * 2));
  const best = candidates.map(() => Infinity);
  let calls = 0;
  let words = candidates[0];
  return () => {
    const trial = calls < 2 * candidates.length ? calls % candidates.length : -1;
    if (trial >= 0) words = candidates[trial];
    const t = nowNs();
    writeEntries(words, entries);
    const ns = (nowNs() - t) / entries;
    if (trial >= 0) {
      best[trial] = Math.min(best[trial], ns);
      if (++calls === 2 * candidates.length) {
        words = candidates[best.indexOf(Math.min(...best))];
        candidates.length = 0;
      }
    }
    return ns;
  };
}

/**
 * The host-memory reads of some translations, as the hardware's own traced walks made them: for
 * each translation, the structures it read in order (address and size in 32-bit words).
 */
export interface RecordedReads {
  /** Byte address of each read. */
  addrs: Float64Array;
  /** 32-bit words each read fetched (two per 64-bit word the trace shows). */
  words: Int32Array;
  /** Reads of translation t: [starts[t], starts[t+1]). */
  starts: Int32Array;
  /**
   * What each read's words XOR to (found by one untimed replay): the next read's address is
   * offset by (value ^ key), which is 0, so each read depends on the data of the one before it
   * as a walk's next table depends on the entry it read, and no compiler can drop the chain.
   */
  keys: Uint32Array;
}

/** Packs recorded reads (one array of { addr, words } per translation) for replayReads. */
export function recordReads(mem: { u32(pa: number): number }, translations: { addr: number; words: number }[][]): RecordedReads {
  const n = translations.reduce((a, t) => a + t.length, 0);
  const r: RecordedReads = { addrs: new Float64Array(n), words: new Int32Array(n), starts: new Int32Array(translations.length + 1), keys: new Uint32Array(n) };
  let k = 0;
  translations.forEach((t, i) => {
    r.starts[i] = k;
    for (const x of t) {
      r.addrs[k] = x.addr;
      r.words[k] = x.words;
      let v = 0;
      for (let j = 0; j < x.words; j++) v ^= mem.u32(x.addr + 4 * j);
      r.keys[k] = v >>> 0;
      k++;
    }
  });
  r.starts[translations.length] = k;
  return r;
}

/**
 * Baseline for a walk: replays the recorded reads, each translation's reads as one dependent
 * chain over the same host memory through the accessor the hardware models read with
 * (HostMemory.u32); translations are independent of each other, as the model's lookups are.
 * Returns ns per translation.
 */
export function replayReads(mem: { u32(pa: number): number }, rec: RecordedReads): () => number {
  const count = rec.starts.length - 1;
  return () => {
    const t = nowNs();
    const acc = replayAll(mem, rec);
    const ns = (nowNs() - t) / count;
    sink(acc);
    return ns;
  };
}

/** The replay loop, a function of its own (as writeEntries, so it is optimised like any hot function). */
function replayAll(mem: { u32(pa: number): number }, rec: RecordedReads): number {
  const { addrs, words, starts, keys } = rec;
  const count = starts.length - 1;
  let acc = 0;
  for (let i = 0; i < count; i++) {
    let d = 0;
    for (let k = starts[i], e = starts[i + 1]; k < e; k++) {
      const pa = addrs[k] + d;
      let v = 0;
      for (let j = 0, n = words[k]; j < n; j++) v ^= mem.u32(pa + 4 * j);
      d = (v ^ keys[k]) >>> 0;
    }
    acc ^= d;
  }
  return acc;
}

/** Baseline for a plain scan of table memory: every 64-bit entry of `frames`, both words, through the chunk accessors. */
export function scanFrames(mem: { wordsForRead(frame: number): Uint32Array; wordBase(frame: number): number }, frames: readonly number[], per: number): () => number {
  return () => {
    const t = nowNs();
    const acc = scanAll(mem, frames);
    const ns = (nowNs() - t) / per;
    sink(acc);
    return ns;
  };
}

/** The scan loop, a function of its own (as writeEntries). */
function scanAll(mem: { wordsForRead(frame: number): Uint32Array; wordBase(frame: number): number }, frames: readonly number[]): number {
  let acc = 0;
  for (let k = 0; k < frames.length; k++) {
    const f = frames[k];
    const w = mem.wordsForRead(f);
    // Kept in int32 (| 0): a sum that outgrew a small integer would switch the loop to slower code partway.
    for (let i = mem.wordBase(f), e = i + 1024; i < e; i += 2) acc = (acc + ((w[i] & 0x2c0) | (w[i + 1] >>> 19))) | 0;
  }
  return acc;
}

let sinkValue = 0;
/** Keeps results alive so the optimiser cannot drop the measured work. */
export function sink(v: number): void {
  sinkValue ^= v;
}
export function sunk(): number {
  return sinkValue;
}
