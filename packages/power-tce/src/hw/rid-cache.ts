/**
 * The PHB's RID translation cache (RTC): PE numbers read from the RTT in memory, dropped only by a
 * PHB_RTC_INVALIDATE write (skiboot phb4_set_pe writes it after changing the RTT).
 */
export class RidTranslationCache {
  private readonly pes = new Map<number, number>();

  get(rid: number): number | undefined {
    return this.pes.get(rid);
  }

  set(rid: number, pe: number): void {
    this.pes.set(rid, pe);
  }

  invalidateAll(): void {
    this.pes.clear();
  }

  invalidateRid(rid: number): void {
    this.pes.delete(rid);
  }

  get size(): number {
    return this.pes.size;
  }
}
