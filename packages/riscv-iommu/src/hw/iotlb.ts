/**
 * The IOTLB (spec §2.7 "Caching in-memory data structures"): leaf translations tagged as the spec
 * tags them. A translation through a first stage is tagged by PSCID (and by GSCID when the
 * G-stage is active); a G-stage-only translation by GSCID alone. Only IOTINVAL.VMA and
 * IOTINVAL.GVMA remove entries.
 *
 * One entry covers the largest naturally aligned block both stages map contiguously (the smaller
 * of the two leaves) and is stored once, under its first page: a lookup probes the five Sv leaf
 * sizes. Requests of supervisor privilege are cached apart, since the U/SUM checks differ.
 */
export interface TlbEntry {
  /** First input page of the block and its host frame. */
  first: number;
  frame: number;
  /** Pages in the block (1, 2^9, 2^18, 2^27 or 2^36). */
  pages: number;
  /** Access the combined translation grants (1 read, 2 write) and what the first stage alone granted. */
  perms: number;
  s1perms: number;
  /** A write needs no walk: D is already set wherever a write must set it. */
  dirtyOk: boolean;
}

export const TLB_SIZES = [1, 2 ** 9, 2 ** 18, 2 ** 27, 2 ** 36] as const;

/** No GSCID / PSCID: the stage is Bare. */
export const NO_ID = -1;

/** The tag of an entry: G-stage GSCID or NO_ID, first-stage PSCID or NO_ID, and privilege. */
export function tlbTag(gscid: number, pscid: number, priv: boolean): number {
  return ((gscid + 1) * 2 ** 21 + (pscid + 1)) * 2 + (priv ? 1 : 0);
}

export function tagGscid(tag: number): number {
  return Math.floor(tag / 2 ** 22) - 1;
}

export function tagPscid(tag: number): number {
  return (Math.floor(tag / 2) % 2 ** 21) - 1;
}

export class Iotlb {
  private readonly tags = new Map<number, Map<number, TlbEntry>>();

  get size(): number {
    let n = 0;
    for (const m of this.tags.values()) n += m.size;
    return n;
  }

  lookup(tag: number, vpn: number): TlbEntry | undefined {
    const m = this.tags.get(tag);
    if (!m) return undefined;
    for (const pages of TLB_SIZES) {
      const e = m.get(vpn - (vpn % pages));
      if (e && e.pages === pages) return e;
    }
    return undefined;
  }

  insert(tag: number, e: TlbEntry): void {
    let m = this.tags.get(tag);
    if (!m) this.tags.set(tag, (m = new Map()));
    m.set(e.first, e);
  }

  /**
   * IOTINVAL: entries whose tag matches (`gscid` / `pscid` undefined = any; NO_ID = the stage is
   * Bare) and, with `vpn`, whose block holds that page. `firstStage` picks the entries made
   * through a first stage (VMA) or any (GVMA).
   */
  invalidate(o: { gscid?: number; pscid?: number; vpn?: number; onlyFirstStage?: boolean; onlyGStageOnly?: boolean }): void {
    for (const [tag, m] of this.tags) {
      const g = tagGscid(tag);
      const p = tagPscid(tag);
      if (o.gscid !== undefined && g !== o.gscid) continue;
      if (o.pscid !== undefined && p !== o.pscid) continue;
      if (o.onlyFirstStage && p === NO_ID) continue;
      if (o.onlyGStageOnly && p !== NO_ID) continue;
      if (o.vpn === undefined) {
        this.tags.delete(tag);
        continue;
      }
      for (const pages of TLB_SIZES) {
        const key = o.vpn - (o.vpn % pages);
        const e = m.get(key);
        if (e && e.pages === pages) m.delete(key);
      }
      if (m.size === 0) this.tags.delete(tag);
    }
  }

  clear(): void {
    this.tags.clear();
  }
}
