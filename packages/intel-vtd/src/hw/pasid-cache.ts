/**
 * PASID cache: PASID-table entries by (requester ID, PASID), tagged with the entry's DID, filled
 * by walks of present entries and cleared only by PASID-cache invalidation descriptors
 * (domain-selective, PASID-selective within a domain, or global).
 */
import type { FirstLevelParams } from './walker.js';

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
  /** SSADE (second-stage accessed/dirty flags enabled), on a unit with ECAP.SSADS. */
  ssade: boolean;
  /** First-level walk parameters (PGTT first-level only or nested), decoded when the entry is cached. */
  fl: FirstLevelParams | null;
}

export class PasidCache {
  private readonly entries = new Map<number, PasidCacheEntry>();
  /**
   * The entry last looked up, a shortcut into `entries` (not a second cache: it is always one of
   * them, and forgotten whenever any entry leaves).
   */
  private lastKey = -1;
  private last: PasidCacheEntry | undefined = undefined;

  /** PASID in the high part: requests without PASID (RID_PASID, usually 0) and small PASIDs give small-integer keys. */
  static key(rid: number, pasid: number): number {
    return pasid * 0x10000 + rid;
  }

  get(rid: number, pasid: number): PasidCacheEntry | undefined {
    const k = pasid * 0x10000 + rid; // PasidCache.key
    if (k === this.lastKey) return this.last;
    const e = this.entries.get(k);
    if (e !== undefined) {
      this.lastKey = k;
      this.last = e;
    }
    return e;
  }

  /** The entry for (rid, pasid) without touching the look-up shortcut (a debugger's look). */
  peek(rid: number, pasid: number): PasidCacheEntry | undefined {
    return this.entries.get(PasidCache.key(rid, pasid));
  }

  fill(rid: number, pasid: number, e: PasidCacheEntry): void {
    const k = PasidCache.key(rid, pasid);
    this.entries.set(k, e);
    if (k === this.lastKey) this.last = e;
  }

  get size(): number {
    return this.entries.size;
  }

  invalidateAll(): void {
    this.entries.clear();
    this.forgetLast();
  }

  invalidateDomain(did: number): void {
    for (const [k, e] of this.entries) if (e.did === did) this.entries.delete(k);
    this.forgetLast();
  }

  invalidatePasid(did: number, pasid: number): void {
    for (const [k, e] of this.entries) if (e.did === did && e.pasid === pasid) this.entries.delete(k);
    this.forgetLast();
  }

  private forgetLast(): void {
    this.lastKey = -1;
    this.last = undefined;
  }
}
