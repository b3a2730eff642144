/**
 * The PHB's RID translation cache (RTC): PE numbers read from the RTT in memory, dropped only by a
 * PHB_RTC_INVALIDATE write (skiboot phb4_set_pe writes it after changing the RTT) or by being
 * replaced: the model is a direct-mapped cache of RTC_ENTRIES entries tagged with the RID.
 */
export const RTC_ENTRIES = 1024;

export class RidTranslationCache {
  /** Per slot: [RID (-1 when empty), PE#]. */
  private readonly slots = new Int32Array(RTC_ENTRIES * 2).fill(-1);

  /** First element of the slot of `rid`. */
  private slot(rid: number): number {
    return ((rid ^ (rid >>> 10)) & (RTC_ENTRIES - 1)) << 1;
  }

  /** The cached PE# of `rid`, or -1 on a miss. */
  lookup(rid: number): number {
    const s = ((rid ^ (rid >>> 10)) & 1023) << 1; // RTC_ENTRIES - 1
    return this.slots[s] === rid ? this.slots[s + 1] : -1;
  }

  get(rid: number): number | undefined {
    const pe = this.lookup(rid);
    return pe < 0 ? undefined : pe;
  }

  set(rid: number, pe: number): void {
    const s = this.slot(rid);
    this.slots[s] = rid;
    this.slots[s + 1] = pe;
  }

  invalidateAll(): void {
    for (let s = 0; s < RTC_ENTRIES * 2; s += 2) this.slots[s] = -1;
  }

  invalidateRid(rid: number): void {
    const s = this.slot(rid);
    if (this.slots[s] === rid) this.slots[s] = -1;
  }

  get size(): number {
    let n = 0;
    for (let s = 0; s < RTC_ENTRIES * 2; s += 2) if (this.slots[s] >= 0) n++;
    return n;
  }
}
