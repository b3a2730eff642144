import { PGTT_FL_ONLY, PGTT_NESTED, PGTT_PT, PGTT_SL_ONLY } from '../tables/pasid-entry.js';

/** Page sizes a translation is cached at, in 4 KiB frames: 4 KiB, 2 MiB, 1 GiB. */
export const SIZE_FRAMES = [1, 512, 262144] as const;
export const SIZE_SHIFTS = [12, 21, 30] as const;

export interface TlbEntry {
  /** Host frame of the page's first 4 KiB. */
  frame: number;
  sizeIdx: number;
  read: boolean;
  write: boolean;
  /** Whether an unprivileged request may use it (first level: U/S at every level). */
  user: boolean;
  pgtt: number;
}

/**
 * IOTLB: final translations tagged with DID and PASID (the RID_PASID for requests without
 * PASID) and the page size they were found at. Filled by successful walks, cleared only by IOTLB
 * (second-level, pass-through and nested entries) and PASID-based IOTLB (first-level and nested
 * entries) invalidation descriptors.
 */
export class Iotlb {
  private readonly tags = new Map<number, Map<number, TlbEntry>>();

  private static tag(did: number, pasid: number): number {
    return did * 0x100000 + pasid;
  }

  lookup(did: number, pasid: number, iovaFrame: number): TlbEntry | undefined {
    const t = this.tags.get(Iotlb.tag(did, pasid));
    if (!t) return undefined;
    for (let s = 0; s < 3; s++) {
      const n = SIZE_FRAMES[s];
      const e = t.get((iovaFrame - (iovaFrame % n)) * 4 + s);
      if (e) return e;
    }
    return undefined;
  }

  fill(did: number, pasid: number, iovaFrame: number, e: TlbEntry): void {
    const tag = Iotlb.tag(did, pasid);
    let t = this.tags.get(tag);
    if (!t) this.tags.set(tag, (t = new Map()));
    const n = SIZE_FRAMES[e.sizeIdx];
    t.set((iovaFrame - (iovaFrame % n)) * 4 + e.sizeIdx, e);
  }

  get size(): number {
    let n = 0;
    for (const t of this.tags.values()) n += t.size;
    return n;
  }

  invalidateAll(): void {
    this.tags.clear();
  }

  /**
   * IOTLB invalidation descriptor, domain- or page-selective: second-level and pass-through
   * entries of the DID in the range; nested entries of the DID whatever their input address, as
   * the range is in second-stage input (GPA) terms and the cached input is first-stage (GVA).
   */
  invalidateDomain(did: number, range?: { frame: number; frames: number }): void {
    for (const [tag, t] of this.tags) {
      if (Math.floor(tag / 0x100000) !== did) continue;
      for (const [k, e] of [...t]) {
        if (e.pgtt === PGTT_FL_ONLY) continue;
        if (range && e.pgtt !== PGTT_NESTED && !overlaps(k, range)) continue;
        t.delete(k);
      }
    }
  }

  /** PASID-based IOTLB invalidation: first-level and nested entries of (DID, PASID), all or in a range. */
  invalidatePasid(did: number, pasid: number, range?: { frame: number; frames: number }): void {
    const t = this.tags.get(Iotlb.tag(did, pasid));
    if (!t) return;
    for (const [k, e] of [...t]) {
      if (e.pgtt === PGTT_SL_ONLY || e.pgtt === PGTT_PT) continue;
      if (range && !overlaps(k, range)) continue;
      t.delete(k);
    }
  }
}

/** Whether the cached page under key `k` overlaps [frame, frame+frames). */
export function overlaps(k: number, range: { frame: number; frames: number }): boolean {
  const s = k % 4;
  const base = (k - s) / 4;
  return base < range.frame + range.frames && range.frame < base + SIZE_FRAMES[s];
}

export function sizeIdxForShift(shift: number): number {
  return shift >= 30 ? 2 : shift >= 21 ? 1 : 0;
}
