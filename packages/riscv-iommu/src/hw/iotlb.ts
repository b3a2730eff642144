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

/** One tag's entries (keyed by the block's first page). */
interface TagSet {
  readonly gscid: number;
  readonly pscid: number;
  readonly entries: Map<number, TlbEntry>;
  /** Bit k: an entry of TLB_SIZES[k] pages was inserted (a lookup probes only those sizes). */
  sizes: number;
}

export class Iotlb {
  /** Tags by their composite number (tlbTag), as small indices into `sets`: a hit looks up no large key. */
  private readonly ids = new Map<number, number>();
  private readonly sets: TagSet[] = [];

  get size(): number {
    let n = 0;
    for (const s of this.sets) n += s.entries.size;
    return n;
  }

  /** The index of a tag (made on first use; a name, not a cache entry). */
  tagId(tag: number): number {
    let id = this.ids.get(tag);
    if (id === undefined) {
      id = this.sets.length;
      this.sets.push({ gscid: tagGscid(tag), pscid: tagPscid(tag), entries: new Map(), sizes: 0 });
      this.ids.set(tag, id);
    }
    return id;
  }

  lookup(id: number, vpn: number): TlbEntry | undefined {
    const set = this.sets[id];
    const m = set.entries;
    if (m.size === 0) return undefined;
    for (let k = 0; k < TLB_SIZES.length; k++) {
      if ((set.sizes & (1 << k)) === 0) continue;
      const pages = TLB_SIZES[k];
      const e = m.get(vpn - (vpn % pages));
      if (e && e.pages === pages) return e;
    }
    return undefined;
  }

  insert(id: number, e: TlbEntry): void {
    const set = this.sets[id];
    set.entries.set(e.first, e);
    set.sizes |= 1 << TLB_SIZES.indexOf(e.pages as (typeof TLB_SIZES)[number]);
  }

  /**
   * IOTINVAL: entries whose tag matches (`gscid` / `pscid` undefined = any; NO_ID = the stage is
   * Bare) and, with `vpn`, whose block holds that page; `onlyFirstStage` picks the entries made
   * through a first stage, `onlyGStageOnly` those made by the G-stage alone.
   */
  invalidate(o: { gscid?: number; pscid?: number; vpn?: number; onlyFirstStage?: boolean; onlyGStageOnly?: boolean }): void {
    for (const s of this.sets) {
      if (s.entries.size === 0) continue;
      if (o.gscid !== undefined && s.gscid !== o.gscid) continue;
      if (o.pscid !== undefined && s.pscid !== o.pscid) continue;
      if (o.onlyFirstStage && s.pscid === NO_ID) continue;
      if (o.onlyGStageOnly && s.pscid !== NO_ID) continue;
      if (o.vpn === undefined) {
        s.entries.clear();
        s.sizes = 0;
        continue;
      }
      for (const pages of TLB_SIZES) {
        const key = o.vpn - (o.vpn % pages);
        const e = s.entries.get(key);
        if (e && e.pages === pages) s.entries.delete(key);
      }
    }
  }

  clear(): void {
    for (const s of this.sets) {
      s.entries.clear();
      s.sizes = 0;
    }
  }
}
