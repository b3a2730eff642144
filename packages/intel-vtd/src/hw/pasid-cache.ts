/**
 * PASID cache: PASID-table entries by (requester ID, PASID), tagged with the entry's DID, filled
 * by walks of present entries and cleared only by PASID-cache invalidation descriptors
 * (domain-selective, PASID-selective within a domain, or global).
 */
export interface PasidCacheEntry {
  raw: bigint[];
  did: number;
  pasid: number;
  pgtt: number;
  fpd: boolean;
  /** Second-level root frame and levels (AW + 2). */
  slRoot: number;
  slLevels: number;
  /** First-level root byte address (host or guest physical) and levels (FLPM + 4). */
  flRoot: number;
  flLevels: number;
  sre: boolean;
  wpe: boolean;
}

export class PasidCache {
  private readonly entries = new Map<number, PasidCacheEntry>();

  static key(rid: number, pasid: number): number {
    return rid * 0x100000 + pasid;
  }

  get(rid: number, pasid: number): PasidCacheEntry | undefined {
    return this.entries.get(PasidCache.key(rid, pasid));
  }

  fill(rid: number, pasid: number, e: PasidCacheEntry): void {
    this.entries.set(PasidCache.key(rid, pasid), e);
  }

  get size(): number {
    return this.entries.size;
  }

  invalidateAll(): void {
    this.entries.clear();
  }

  invalidateDomain(did: number): void {
    for (const [k, e] of [...this.entries]) if (e.did === did) this.entries.delete(k);
  }

  invalidatePasid(did: number, pasid: number): void {
    for (const [k, e] of [...this.entries]) if (e.did === did && e.pasid === pasid) this.entries.delete(k);
  }
}
