import type { CacheReadRecorder } from '@ioasid/core';

/**
 * The PHB's TCE cache: translations of whole IO pages, filled by table walks and dropped only by
 * PHB_TCE_KILL writes (or by being replaced: the cache is bounded).
 *
 * Model: direct-mapped, TCE_CACHE_ENTRIES entries by default (a model parameter, not the
 * silicon's figure), held in one typed array. An entry is tagged with
 * its TVE (2·PE + bus bit 59), the IO page index in that window and the PE's kill generation.
 * Value: host frame of the IO page · 4 + TCE permission bits.
 *
 * A KILL_PE bumps the PE's generation, which invalidates every entry of the PE at once without
 * visiting the entries of other PEs; KILL_ONE visits only the slots its pages index.
 */
export const TCE_CACHE_ENTRIES = 1 << 14;

/** Multiplier spreading TVEs over the slots, so equal page indexes of two windows rarely collide. */
const TVE_SPREAD = 0x9e3;
/** A PE's generation is reset (with a scan of its entries) before it could wrap. */
const GEN_LIMIT = 0x7fffffff;
/** Tag word: TVE · 2^31 + generation (exact in a double for any TVE index below 2^22). */
const TVE_TAG = 2 ** 31;
/** Doubles per slot: tag, IO page, value, unused (32 bytes: one slot never spans two CPU cache lines). */
const STRIDE = 4;

export class TceCache {
  private readonly mask: number;
  /** Per slot: [TVE · 2^31 + generation (-1 when empty), IO page, value, -]. */
  private readonly slots: Float64Array;
  /** Kill generation per PE: an entry is live only while its generation is its PE's. */
  private readonly gen: Int32Array;
  /** Per TVE (2·PE + select): the tag its live entries carry, TVE · 2^31 + its PE's generation. */
  private readonly tags: Float64Array;

  constructor(
    readonly numPes: number,
    /** Slots (a power of two). */
    readonly capacity = TCE_CACHE_ENTRIES,
  ) {
    if (!(capacity >= 1 && (capacity & (capacity - 1)) === 0)) throw new RangeError(`TCE cache capacity ${capacity} is not a power of two`);
    this.mask = capacity - 1;
    this.slots = new Float64Array(capacity * STRIDE).fill(-1);
    this.gen = new Int32Array(numPes);
    this.tags = new Float64Array(numPes * 2);
    for (let tve = 0; tve < numPes * 2; tve++) this.tags[tve] = tve * TVE_TAG;
  }

  /** First double of the slot an IO page of a TVE indexes (page may exceed 2^32: `&` keeps its low bits). */
  private base(tve: number, page: number): number {
    return ((page + tve * TVE_SPREAD) & this.mask) * STRIDE;
  }

  /** The cached value for (TVE, IO page), or -1 on a miss. */
  lookup(tve: number, page: number): number {
    // `<< 2` is `* STRIDE`.
    const b = ((page + tve * TVE_SPREAD) & this.mask) << 2;
    const a = this.slots;
    // Every read and compare runs on a miss as on a hit, so code optimised while the cache was
    // cold (all misses) has type feedback for the hit path too and need not deoptimise.
    // b is a multiple of 4: `|` adds without an overflow check.
    const tagOk = a[b] === this.tags[tve];
    const pageOk = a[b | 1] === page;
    const v = a[b | 2];
    return tagOk && pageOk ? v : -1;
  }

  /** Tells `rec` what lookup() reads of the entries: the slot's tag, IO page and value (a traced probe). */
  recordLookup(tve: number, page: number, rec: CacheReadRecorder): void {
    rec.cacheRead(this.slots, this.base(tve, page), 3);
  }

  /** Fills (replacing whatever the slot held). */
  fill(tve: number, page: number, value: number): void {
    const b = this.base(tve, page);
    const a = this.slots;
    a[b] = this.tags[tve];
    a[b + 1] = page;
    a[b + 2] = value;
  }

  killAll(): void {
    for (let pe = 0; pe < this.numPes; pe++) this.killPe(pe);
  }

  killPe(pe: number): void {
    const g = this.gen[pe] + 1;
    if (g < GEN_LIMIT) {
      this.setGen(pe, g);
      return;
    }
    // Before the generation could wrap: drop the PE's entries for real and start again at 0.
    const a = this.slots;
    for (let b = 0; b < a.length; b += STRIDE) if (a[b] >= 0 && Math.floor(a[b] / TVE_TAG) >> 1 === pe) a[b] = -1;
    this.setGen(pe, 0);
  }

  private setGen(pe: number, g: number): void {
    this.gen[pe] = g;
    this.tags[2 * pe] = 2 * pe * TVE_TAG + g;
    this.tags[2 * pe + 1] = (2 * pe + 1) * TVE_TAG + g;
  }

  /** Drops the pages [first, first+count) of one window (select = bus bit 59) of one PE. */
  killPages(pe: number, select: number, first: number, count: number): void {
    const tve = pe * 2 + select;
    const a = this.slots;
    const mine = (b: number) => a[b] >= 0 && Math.floor(a[b] / TVE_TAG) === tve;
    if (count >= this.capacity) {
      for (let b = 0; b < a.length; b += STRIDE) if (mine(b) && a[b + 1] >= first && a[b + 1] < first + count) a[b] = -1;
      return;
    }
    for (let p = first; p < first + count; p++) {
      const b = this.base(tve, p);
      if (mine(b) && a[b + 1] === p) a[b] = -1;
    }
  }

  /** Live cached entries of a PE (for tests and statistics; scans the cache). */
  entries(pe: number): number {
    const a = this.slots;
    let n = 0;
    for (let b = 0; b < a.length; b += STRIDE) {
      const t = a[b];
      if (t >= 0 && Math.floor(t / TVE_TAG) >> 1 === pe && t % TVE_TAG === this.gen[pe]) n++;
    }
    return n;
  }
}
