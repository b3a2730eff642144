import type { CacheReadRecorder } from '@ioasid/core';

/**
 * The IOTLB (spec §2.7 "Caching in-memory data structures"): leaf translations tagged as the spec
 * tags them. A translation through a first stage is tagged by PSCID (and by GSCID when the
 * G-stage is active); a G-stage-only translation by GSCID alone. Only IOTINVAL.VMA and
 * IOTINVAL.GVMA remove entries.
 *
 * One entry covers the largest naturally aligned block both stages map contiguously (the smaller
 * of the two leaves) and is stored once, under its first page: a lookup probes the Sv leaf sizes
 * the tag holds. Requests of supervisor privilege are cached apart, since the U/SUM checks differ.
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
/** Their reciprocals (exact: powers of two), so aligning a page down multiplies instead of a double modulo. */
const TLB_INV = TLB_SIZES.map((s) => 1 / s);

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

/** What the IOTLB knows of one tag: its IDs, its generation and which block sizes it holds. */
interface TagInfo {
  readonly gscid: number;
  readonly pscid: number;
  /** Bit k: an entry of TLB_SIZES[k] pages was inserted since the tag was last flushed whole. */
  sizes: number;
}

/** Sets × ways of the model's IOTLB (a model parameter, not a silicon figure: the spec leaves it open). */
export const IOTLB_SETS = 4096;
export const IOTLB_WAYS = 4;
/** Doubles per slot (key, tag word, value, unused: 32 bytes, so a slot never spans two cache lines) and their offsets. */
const SLOT = 4;
const S_KEY = 0;
const S_TAG = 1;
const S_VAL = 2;
/** A tag word is tag index · 2^31 + generation. */
const TAG_SCALE = 2 ** 31;

/**
 * A bounded, set-associative IOTLB held in one typed array (no object or map entry per cached
 * page). A block is indexed by its first page (spread by its tag and size), so consecutive pages
 * use consecutive sets; a full set replaces its ways in turn. A whole-tag flush bumps the tag's
 * generation, which every slot of the tag then fails to match.
 *
 * A slot is SLOT doubles side by side, so a probe of a set reads two cache lines of the host:
 * the block key (first page · 8 + size index), the tag word (tag index · 2^31 + generation, -1
 * when empty) and the value (frame · 32 + perms | s1perms << 2 | dirtyOk << 4).
 */
export class Iotlb {
  /** Tags by their composite number (tlbTag), as small indices: a hit compares small integers. */
  private readonly ids = new Map<number, number>();
  private readonly tags: TagInfo[] = [];
  /** Per tag: its generation (a slot is live while it holds its tag's generation). */
  private tagGen = new Int32Array(64);
  private readonly slots = new Float64Array(IOTLB_SETS * IOTLB_WAYS * SLOT).fill(-1);
  /** Next way to replace, per set. */
  private readonly victim = new Uint8Array(IOTLB_SETS);
  /** What lookup() returns on a hit: valid until the next lookup. */
  private readonly hit: TlbEntry = { first: 0, frame: 0, pages: 0, perms: 0, s1perms: 0, dirtyOk: false };

  /** Live entries (for tests and dumps; scans every slot). */
  get size(): number {
    let n = 0;
    for (let s = 0; s < IOTLB_SETS * IOTLB_WAYS; s++) if (this.live(s)) n++;
    return n;
  }

  /** The index of a tag (made on first use; a name, not a cache entry). */
  tagId(tag: number): number {
    let id = this.ids.get(tag);
    if (id === undefined) {
      id = this.tags.length;
      this.tags.push({ gscid: tagGscid(tag), pscid: tagPscid(tag), sizes: 0 });
      this.ids.set(tag, id);
      if (id >= this.tagGen.length) {
        const grown = new Int32Array(this.tagGen.length * 2);
        grown.set(this.tagGen);
        this.tagGen = grown;
      }
    }
    return id;
  }

  /** The tag word of tag `id` now (exact in a double for any tag index below 2^22). */
  private tagWord(id: number): number {
    return id * TAG_SCALE + this.tagGen[id];
  }

  private live(slot: number): boolean {
    const t = this.slots[slot * SLOT + S_TAG];
    return t >= 0 && t === this.tagWord(Math.floor(t / TAG_SCALE));
  }

  /** First slot of the set a block of size index `k` starting at `first` indexes. */
  private setOf(id: number, first: number, k: number): number {
    // `first` may exceed 2^32: `&` keeps its low bits; larger blocks are spread by their index.
    const key = k === 0 ? first : first * TLB_INV[k];
    return ((key + id * 0x9e3 + k * 0x61) & (IOTLB_SETS - 1)) * IOTLB_WAYS;
  }

  /** The live entry covering `vpn` under tag `id`; `rec` (a traced probe) is told each way's key and tag read, and a hit's value. */
  lookup(id: number, vpn: number, rec?: CacheReadRecorder): TlbEntry | undefined {
    const sizes = this.tags[id].sizes;
    if (sizes === 0) return undefined;
    const tw = this.tagWord(id);
    const a = this.slots;
    for (let k = 0; k < TLB_SIZES.length; k++) {
      if ((sizes & (1 << k)) === 0) continue;
      const pages = TLB_SIZES[k];
      const first = k === 0 ? vpn : Math.floor(vpn * TLB_INV[k]) * pages;
      const key = first * 8 + k;
      const base = this.setOf(id, first, k) * SLOT;
      for (let j = base, e = base + IOTLB_WAYS * SLOT; j < e; j += SLOT) {
        rec?.cacheRead(a, j + S_KEY, 2);
        if (a[j + S_KEY] !== key || a[j + S_TAG] !== tw) continue;
        rec?.cacheRead(a, j + S_VAL, 1);
        const h = this.hit;
        const v = a[j + S_VAL];
        const bits = v & 31;
        h.first = first;
        h.frame = (v - bits) * (1 / 32);
        h.pages = pages;
        h.perms = bits & 3;
        h.s1perms = (bits >> 2) & 3;
        h.dirtyOk = (bits & 16) !== 0;
        return h;
      }
    }
    return undefined;
  }

  insert(id: number, first: number, frame: number, pages: number, perms: number, s1perms: number, dirtyOk: boolean): void {
    const k = TLB_SIZES.indexOf(pages as (typeof TLB_SIZES)[number]);
    const base = this.setOf(id, first, k);
    const tw = this.tagWord(id);
    const key = first * 8 + k;
    const a = this.slots;
    // The same block again takes its own slot; else a dead way, else the next victim.
    let slot = -1;
    for (let w = 0; w < IOTLB_WAYS && slot < 0; w++) {
      const j = (base + w) * SLOT;
      if (a[j + S_KEY] === key && a[j + S_TAG] === tw) slot = base + w;
    }
    for (let w = 0; w < IOTLB_WAYS && slot < 0; w++) if (!this.live(base + w)) slot = base + w;
    if (slot < 0) {
      const set = base / IOTLB_WAYS;
      slot = base + this.victim[set];
      this.victim[set] = (this.victim[set] + 1) % IOTLB_WAYS;
    }
    const j = slot * SLOT;
    a[j + S_KEY] = key;
    a[j + S_TAG] = tw;
    a[j + S_VAL] = frame * 32 + (perms | (s1perms << 2) | (dirtyOk ? 16 : 0));
    this.tags[id].sizes |= 1 << k;
  }

  /**
   * IOTINVAL: entries whose tag matches (`gscid` / `pscid` undefined = any; NO_ID = the stage is
   * Bare) and, with `vpn`, whose block holds that page; `onlyFirstStage` picks the entries made
   * through a first stage, `onlyGStageOnly` those made by the G-stage alone.
   */
  invalidate(o: { gscid?: number; pscid?: number; vpn?: number; onlyFirstStage?: boolean; onlyGStageOnly?: boolean }): void {
    for (let id = 0; id < this.tags.length; id++) {
      const t = this.tags[id];
      if (t.sizes === 0) continue;
      if (o.gscid !== undefined && t.gscid !== o.gscid) continue;
      if (o.pscid !== undefined && t.pscid !== o.pscid) continue;
      if (o.onlyFirstStage && t.pscid === NO_ID) continue;
      if (o.onlyGStageOnly && t.pscid !== NO_ID) continue;
      if (o.vpn === undefined) {
        this.flushTag(id);
        continue;
      }
      const tw = this.tagWord(id);
      for (let k = 0; k < TLB_SIZES.length; k++) {
        if ((t.sizes & (1 << k)) === 0) continue;
        const pages = TLB_SIZES[k];
        const first = o.vpn - (o.vpn % pages);
        const base = this.setOf(id, first, k);
        for (let w = 0; w < IOTLB_WAYS; w++) {
          const j = (base + w) * SLOT;
          if (this.slots[j + S_KEY] === first * 8 + k && this.slots[j + S_TAG] === tw) this.slots[j + S_TAG] = -1;
        }
      }
    }
  }

  /** Every entry of one tag, at once (its generation moves on; before it could wrap, its slots are cleared for real). */
  private flushTag(id: number): void {
    this.tags[id].sizes = 0;
    if (this.tagGen[id] < 0x7fffffff) {
      this.tagGen[id]++;
      return;
    }
    const a = this.slots;
    for (let j = S_TAG; j < a.length; j += SLOT) if (a[j] >= 0 && Math.floor(a[j] / TAG_SCALE) === id) a[j] = -1;
    this.tagGen[id] = 0;
  }

  clear(): void {
    for (let id = 0; id < this.tags.length; id++) this.flushTag(id);
  }
}
