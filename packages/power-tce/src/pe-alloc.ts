import { fail } from '@ioasid/core';

/**
 * PE numbers as Linux hands them out (pci-ioda.c pnv_ioda_alloc_pe): the highest free PE#,
 * reusing a released one at once. A hierarchy of bitmaps (a bit per free PE, then a bit per word
 * that still has one) finds it in O(log32 n) instead of scanning every PE. ENOSPC past the last.
 */
export class PeAllocator {
  /** levels[0]: one bit per PE (1 = free); levels[k + 1]: one bit per non-zero word of levels[k]. */
  private readonly levels: Uint32Array[] = [];
  private used = 0;

  /** PEs 0 .. count-1 are allocatable (the PHB's reserved PE# is not among them). */
  constructor(readonly count: number) {
    let n = count;
    do {
      n = Math.ceil(n / 32);
      this.levels.push(new Uint32Array(n));
    } while (n > 1);
    for (let pe = 0; pe < count; pe++) this.mark(pe);
  }

  get inUse(): number {
    return this.used;
  }

  /** ENOSPC naming `what` when every PE is in use (so a caller can check before it changes anything). */
  checkAvailable(what: string): void {
    if (this.used >= this.count) fail('ENOSPC', `no free PE on the PHB for ${what} (all ${this.count} PEs below the reserved one are in use)`);
  }

  /** The highest free PE#, now in use; ENOSPC naming `what` when none is left. */
  alloc(what: string): number {
    this.checkAvailable(what);
    let i = 0;
    for (let k = this.levels.length - 1; k >= 0; k--) i = i * 32 + (31 - Math.clz32(this.levels[k][i]));
    this.unmark(i);
    this.used++;
    return i;
  }

  free(pe: number): void {
    if (pe < 0 || pe >= this.count || (this.levels[0][pe >>> 5] & (1 << (pe & 31))) !== 0) return;
    this.mark(pe);
    this.used--;
  }

  private mark(pe: number): void {
    let i = pe;
    for (const l of this.levels) {
      const w = i >>> 5;
      const was = l[w];
      l[w] = was | (1 << (i & 31));
      if (was !== 0) return;
      i = w;
    }
  }

  private unmark(pe: number): void {
    let i = pe;
    for (const l of this.levels) {
      const w = i >>> 5;
      l[w] &= ~(1 << (i & 31));
      if (l[w] !== 0) return;
      i = w;
    }
  }
}
