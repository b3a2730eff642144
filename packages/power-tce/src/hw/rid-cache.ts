/**
 * The PHB's RID translation cache (RTC): PE numbers read from the RTT in memory, dropped only by a
 * PHB_RTC_INVALIDATE write (skiboot phb4_set_pe writes it after changing the RTT) or by being
 * replaced: the model is a direct-mapped cache of RTC_ENTRIES entries tagged with the RID.
 */
export const RTC_ENTRIES = 1024;

export class RidTranslationCache {
  private readonly mask = RTC_ENTRIES - 1;
  /** RID held by each slot, -1 when empty. */
  private readonly rids = new Int32Array(RTC_ENTRIES).fill(-1);
  private readonly pes = new Int32Array(RTC_ENTRIES);

  private slot(rid: number): number {
    return (rid ^ (rid >>> 10)) & this.mask;
  }

  /** The cached PE# of `rid`, or -1 on a miss. */
  lookup(rid: number): number {
    const s = (rid ^ (rid >>> 10)) & this.mask;
    return this.rids[s] === rid ? this.pes[s] : -1;
  }

  get(rid: number): number | undefined {
    const pe = this.lookup(rid);
    return pe < 0 ? undefined : pe;
  }

  set(rid: number, pe: number): void {
    const s = this.slot(rid);
    this.rids[s] = rid;
    this.pes[s] = pe;
  }

  invalidateAll(): void {
    this.rids.fill(-1);
  }

  invalidateRid(rid: number): void {
    const s = this.slot(rid);
    if (this.rids[s] === rid) this.rids[s] = -1;
  }

  get size(): number {
    let n = 0;
    for (let s = 0; s < RTC_ENTRIES; s++) if (this.rids[s] >= 0) n++;
    return n;
  }
}
