import { ConformanceFailure } from '../../kit.js';

/** The big state this much slower per operation than a small one, and slower than FLOOR_US, means the cost grows with what is in use. */
const RATIO = 4;
const FLOOR_US = 50;
/** Alternations of the confirmation. */
const ROUNDS = 3;

/** µs per operation of a timed batch on some state, or undefined when the batch could not run. */
export type Batch = () => number | undefined;

export function timeBatch(n: number, op: (i: number) => boolean): number | undefined {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) if (!op(i)) return undefined;
  return ((performance.now() - t0) * 1000) / n;
}

/**
 * Times a loop in batches; when the late batches look much slower than the early ones, it
 * confirms before failing: batches on the big state (`big`) alternate with batches on a fresh,
 * small one (`small`), so both run under the same machine load and heap. Noise only ever adds
 * time, so the fastest of each side is compared. An operation whose cost grows with the IDs in
 * use fails long before a quadratic allocator would finish (57,350 ALLOCs once took 62 s).
 */
export class Pace {
  private readonly batches: number[] = [];
  private t0 = performance.now();
  private readonly started = this.t0;
  private confirmations = 0;

  constructor(
    private readonly what: string,
    private readonly batch: number,
    private readonly big: Batch,
    private readonly small: Batch,
  ) {}

  /** Call after each successful operation `n` (1-based). */
  tick(n: number): void {
    if (n % this.batch !== 0) return;
    const now = performance.now();
    this.batches.push(((now - this.t0) * 1000) / this.batch);
    this.t0 = now;
    if (this.batches.length < 8) return;
    const early = Math.min(...this.batches.slice(1, 5));
    const late = Math.min(...this.batches.slice(-4));
    if (late > RATIO * early && late > FLOOR_US && this.confirmations < 3) this.confirm(n);
    this.t0 = performance.now();
  }

  private confirm(n: number): void {
    this.confirmations++;
    const bigs: number[] = [];
    const smalls: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const b = this.big();
      const s = this.small();
      if (b === undefined || s === undefined) return;
      bigs.push(b);
      smalls.push(s);
    }
    const big = Math.min(...bigs);
    const small = Math.min(...smalls);
    if (big > RATIO * small && big > FLOOR_US) {
      throw new ConformanceFailure(
        `scaling: ${this.what} costs ${big.toFixed(0)} µs with ${n} in use against ${small.toFixed(0)} µs on a fresh machine (timed alternately): its cost grows with what is already in use (an ID allocator must be O(1); 57,350 ALLOCs once took 62 s)`,
      );
    }
    // The machine, not the operation, was slow: start the comparison afresh.
    this.batches.length = 1;
  }

  seconds(): number {
    return (performance.now() - this.started) / 1000;
  }

  text(): string {
    const b = this.batches;
    return b.length >= 2 ? `${b[1].toFixed(0)} µs each early, ${b[b.length - 1].toFixed(0)} late` : '';
  }
}
