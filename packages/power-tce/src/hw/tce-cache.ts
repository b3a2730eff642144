/**
 * The PHB's TCE cache: translations of whole IO pages, per PE, filled by table walks and dropped
 * only by PHB_TCE_KILL writes. Key: TVE select (bus bit 59) · 2^47 + IO page index in the window.
 * Value: host frame of the IO page · 4 + TCE permission bits.
 */
export const TCE_CACHE_SELECT_STRIDE = 2 ** 47;

export class TceCache {
  private readonly perPe: (Map<number, number> | undefined)[];

  constructor(numPes: number) {
    this.perPe = new Array(numPes);
  }

  get(pe: number, key: number): number | undefined {
    return this.perPe[pe]?.get(key);
  }

  set(pe: number, key: number, value: number): void {
    let m = this.perPe[pe];
    if (!m) {
      m = new Map();
      this.perPe[pe] = m;
    }
    m.set(key, value);
  }

  killAll(): void {
    this.perPe.fill(undefined);
  }

  killPe(pe: number): void {
    this.perPe[pe] = undefined;
  }

  /** Drops the pages [first, first+count) of one window of one PE. */
  killPages(pe: number, select: number, first: number, count: number): void {
    const m = this.perPe[pe];
    if (!m) return;
    const base = select * TCE_CACHE_SELECT_STRIDE;
    if (count > m.size) {
      for (const k of m.keys()) if (k >= base + first && k < base + first + count) m.delete(k);
      return;
    }
    for (let p = 0; p < count; p++) m.delete(base + first + p);
  }

  /** Cached entries of a PE (for tests and statistics). */
  entries(pe: number): number {
    return this.perPe[pe]?.size ?? 0;
  }
}
