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

/** A hit value's output frame (of the page looked up). */
export function hitFrame(v: number): number {
  return (v - (v & 31)) * (1 / 32);
}

/** A hit value's access bits: 1 read, 2 write (the combined translation); hitS1Perms: the first stage's alone. */
export function hitPerms(v: number): number {
  return v & 3;
}

export function hitS1Perms(v: number): number {
  return (v >> 2) & 3;
}

/** Whether a write through the hit needs no walk: D is already set wherever a write must set it. */
export function hitDirtyOk(v: number): boolean {
  return (v & 16) !== 0;
}

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

/** What the IOTLB knows of one tag: its IDs. */
interface TagInfo {
  readonly gscid: number;
  readonly pscid: number;
}

/**
 * The layout in numbers (a const enum, so that the compiler writes them into the probe). A slot
 * is SLOT doubles (block key, tag word, value, unused: 32 bytes, so a way's value lies beside its
 * key); a tag word is tag index · TAG_SCALE + generation.
 */
const enum Geometry {
  SETS = 4096,
  WAYS = 4,
  SLOT = 4,
  S_KEY = 0,
  S_TAG = 1,
  S_VAL = 2,
  SET_DOUBLES = WAYS * SLOT,
  TAG_SCALE = 0x80000000,
}

/** Sets × ways of the model's IOTLB (a model parameter, not a silicon figure: the spec leaves it open). */
export const IOTLB_SETS: number = Geometry.SETS;
export const IOTLB_WAYS: number = Geometry.WAYS;

/**
 * Bit w set when way w of the set whose first slot is at `b` holds block `key` under tag word
 * `tw`. Every way is compared at once, as a set-associative cache compares them: nothing branches
 * on which way matched (`+` makes each compare 0 or 1; unrolled for WAYS = 4, and `b` is a
 * multiple of SET_DOUBLES, so `b | i` is b + i).
 */
function wayMatch(a: Float64Array, b: number, key: number, tw: number): number {
  return (
    (+(a[b] === key) & +(a[b | 1] === tw)) |
    ((+(a[b | 4] === key) & +(a[b | 5] === tw)) << 1) |
    ((+(a[b | 8] === key) & +(a[b | 9] === tw)) << 2) |
    ((+(a[b | 12] === key) & +(a[b | 13] === tw)) << 3)
  );
}

/** Tells `rec` what a probe of the set at `b` read: every way's key and tag, then the value at `v` of a hit (-1: none). */
function reportProbe(rec: CacheReadRecorder, a: Float64Array, b: number, v: number): void {
  for (let w = 0; w < Geometry.WAYS; w++) rec.cacheRead(a, b + w * Geometry.SLOT + Geometry.S_KEY, 2);
  if (v >= 0) rec.cacheRead(a, v, 1);
}

/** The index in TLB_SIZES of a block of `pages` pages (one of them). */
function sizeIndex(pages: number): number {
  let k = 0;
  while (TLB_SIZES[k] !== pages) k++;
  return k;
}

/** The way a match mask names (a live block is held by one way at most), -1 for none. */
function matchedWay(mask: number): number {
  return 31 - Math.clz32(mask);
}

/**
 * A bounded, set-associative IOTLB held in one typed array (no object or map entry per cached
 * page). A block is indexed by its first page (spread by its tag and size), so consecutive pages
 * use consecutive sets; a full set replaces its ways in turn. A whole-tag flush bumps the tag's
 * generation, which every way of the tag then fails to match.
 *
 * A set is WAYS slots side by side, each SLOT doubles: the block key (first page · 8 + size
 * index), the tag word (tag index · 2^31 + generation, -1 when empty) and the value (frame · 32 +
 * perms | s1perms << 2 | dirtyOk << 4). A probe compares every way's key and tag; a hit then
 * reads its way's value, in a line the compare has already brought in.
 */
export class Iotlb {
  /** Tags by their composite number (tlbTag), as small indices: a hit compares small integers. */
  private readonly ids = new Map<number, number>();
  private readonly tags: TagInfo[] = [];
  /** Per tag: its generation (a way is live while it holds its tag's generation). */
  private tagGen = new Int32Array(64);
  private readonly slots = new Float64Array(Geometry.SETS * Geometry.SET_DOUBLES).fill(-1);
  /** Next way to replace, per set. */
  private readonly victim = new Uint8Array(Geometry.SETS);
  /** Per tag: bit k set when an entry of TLB_SIZES[k] pages was inserted since the tag was last flushed whole. */
  private tagSizes = new Uint8Array(64);
  /** Size index of the last hit's block. */
  private hitK = 0;

  /** Live entries (for tests and dumps; scans every way). */
  get size(): number {
    let n = 0;
    for (let set = 0; set < Geometry.SETS; set++) for (let w = 0; w < Geometry.WAYS; w++) if (this.live(set, w)) n++;
    return n;
  }

  /** The index of a tag (made on first use; a name, not a cache entry). */
  tagId(tag: number): number {
    let id = this.ids.get(tag);
    if (id === undefined) {
      id = this.tags.length;
      this.tags.push({ gscid: tagGscid(tag), pscid: tagPscid(tag) });
      this.ids.set(tag, id);
      if (id >= this.tagGen.length) {
        const gen = new Int32Array(this.tagGen.length * 2);
        gen.set(this.tagGen);
        this.tagGen = gen;
        const sizes = new Uint8Array(gen.length);
        sizes.set(this.tagSizes);
        this.tagSizes = sizes;
      }
    }
    return id;
  }

  /** The tag word of tag `id` now (exact in a double for any tag index below 2^22). */
  private tagWord(id: number): number {
    return id * Geometry.TAG_SCALE + this.tagGen[id];
  }

  private live(set: number, w: number): boolean {
    return this.liveAt(this.slots[(set * Geometry.WAYS + w) * Geometry.SLOT + Geometry.S_TAG]) === 1;
  }

  /** 1 when tag word `t` is its tag's current one, else 0 (-1, empty, reads tag 0 and never matches: generations are ≥ 0). */
  private liveAt(t: number): number {
    const id = Math.floor(Math.max(t, 0) * (1 / Geometry.TAG_SCALE));
    return +(t - id * Geometry.TAG_SCALE === this.tagGen[id]);
  }

  /** The first way of `set` holding no live entry, or -1 (every way tested at once, as wayMatch). */
  private deadWay(set: number): number {
    const a = this.slots;
    const b = set * Geometry.SET_DOUBLES + Geometry.S_TAG;
    const live = this.liveAt(a[b]) | (this.liveAt(a[b + 4]) << 1) | (this.liveAt(a[b + 8]) << 2) | (this.liveAt(a[b + 12]) << 3);
    const dead = ~live & 15;
    return dead === 0 ? -1 : 31 - Math.clz32(dead & -dead);
  }

  /** The set a block of size index `k` starting at `first` indexes. */
  private setOf(id: number, first: number, k: number): number {
    // `first` may exceed 2^32: `&` keeps its low bits; larger blocks are spread by their index.
    const key = k === 0 ? first : first * TLB_INV[k];
    return (key + id * 0x9e3 + k * 0x61) & (Geometry.SETS - 1);
  }

  /**
   * The live entry covering `vpn` under tag `id`, as a hit value for `vpn`'s own page (≥ 0: see
   * hitFrame, hitPerms), or -1 (a miss). `rec` (a traced probe) is told each way's key and tag
   * read in every set probed, and a hit's value; lastHitPages() then gives the block's size.
   */
  lookup(id: number, vpn: number, rec?: CacheReadRecorder): number {
    const sizes = this.tagSizes[id];
    if (sizes === 0) return -1;
    const tw = this.tagWord(id);
    // 4 KiB pages first (a block of one page is keyed by the page itself), then larger blocks.
    const v = (sizes & 1) !== 0 ? this.probe(this.setOf(id, vpn, 0), vpn * 8, tw, rec) : -1;
    if (v >= 0 || sizes === 1) {
      this.hitK = 0;
      return v;
    }
    return this.lookupBlocks(id, vpn, tw, sizes, rec);
  }

  /** lookup() for blocks of 2^9 pages and more. */
  private lookupBlocks(id: number, vpn: number, tw: number, sizes: number, rec: CacheReadRecorder | undefined): number {
    for (let k = 1; k < TLB_SIZES.length; k++) {
      if ((sizes & (1 << k)) === 0) continue;
      const first = Math.floor(vpn * TLB_INV[k]) * TLB_SIZES[k];
      const v = this.probe(this.setOf(id, first, k), first * 8 + k, tw, rec);
      if (v >= 0) {
        this.hitK = k;
        return v + (vpn - first) * 32;
      }
    }
    return -1;
  }

  /** The value of the way of `set` that holds block `key` under tag word `tw`, or -1. */
  private probe(set: number, key: number, tw: number, rec: CacheReadRecorder | undefined): number {
    const a = this.slots;
    const b = set * Geometry.SET_DOUBLES;
    const mask = wayMatch(a, b, key, tw);
    // The matched way's value (31 - clz32: matchedWay, written out to keep the probe one function).
    const v = b + (31 - Math.clz32(mask)) * Geometry.SLOT + Geometry.S_VAL;
    if (rec) reportProbe(rec, a, b, mask === 0 ? -1 : v);
    return mask === 0 ? -1 : a[v];
  }

  /** Pages of the block the last hit found. */
  lastHitPages(): number {
    return TLB_SIZES[this.hitK];
  }

  /** The entry covering `vpn` under tag `id` as an object (tests and dumps; the translate path uses lookup). */
  entry(id: number, vpn: number): TlbEntry | undefined {
    const v = this.lookup(id, vpn);
    if (v < 0) return undefined;
    const pages = this.lastHitPages();
    const first = pages === 1 ? vpn : vpn - (vpn % pages);
    const bits = v & 31;
    return { first, frame: hitFrame(v) - (vpn - first), pages, perms: bits & 3, s1perms: (bits >> 2) & 3, dirtyOk: (bits & 16) !== 0 };
  }

  insert(id: number, first: number, frame: number, pages: number, perms: number, s1perms: number, dirtyOk: boolean): void {
    const k = sizeIndex(pages);
    const set = this.setOf(id, first, k);
    const tw = this.tagWord(id);
    const key = first * 8 + k;
    const a = this.slots;
    // The same block again takes its own way; else a dead way, else the next victim.
    let w = matchedWay(wayMatch(a, set * Geometry.SET_DOUBLES, key, tw));
    if (w < 0) w = this.deadWay(set);
    if (w < 0) {
      w = this.victim[set];
      this.victim[set] = (w + 1) % Geometry.WAYS;
    }
    const j = (set * Geometry.WAYS + w) * Geometry.SLOT;
    a[j + Geometry.S_KEY] = key;
    a[j + Geometry.S_TAG] = tw;
    a[j + Geometry.S_VAL] = frame * 32 + (perms | (s1perms << 2) | (dirtyOk ? 16 : 0));
    this.tagSizes[id] |= 1 << k;
  }

  /**
   * IOTINVAL: entries whose tag matches (`gscid` / `pscid` undefined = any; NO_ID = the stage is
   * Bare) and, with `vpn`, whose block holds that page; `onlyFirstStage` picks the entries made
   * through a first stage, `onlyGStageOnly` those made by the G-stage alone.
   */
  invalidate(o: { gscid?: number; pscid?: number; vpn?: number; onlyFirstStage?: boolean; onlyGStageOnly?: boolean }): void {
    for (let id = 0; id < this.tags.length; id++) {
      const t = this.tags[id];
      const sizes = this.tagSizes[id];
      if (sizes === 0) continue;
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
        if ((sizes & (1 << k)) === 0) continue;
        const pages = TLB_SIZES[k];
        const first = o.vpn - (o.vpn % pages);
        const set = this.setOf(id, first, k);
        const w = matchedWay(wayMatch(this.slots, set * Geometry.SET_DOUBLES, first * 8 + k, tw));
        if (w >= 0) this.slots[(set * Geometry.WAYS + w) * Geometry.SLOT + Geometry.S_TAG] = -1;
      }
    }
  }

  /** Every entry of one tag, at once (its generation moves on; before it could wrap, its slots are cleared for real). */
  private flushTag(id: number): void {
    this.tagSizes[id] = 0;
    if (this.tagGen[id] < 0x7fffffff) {
      this.tagGen[id]++;
      return;
    }
    const a = this.slots;
    for (let j = Geometry.S_TAG; j < a.length; j += Geometry.SLOT) if (a[j] >= 0 && Math.floor(a[j] / Geometry.TAG_SCALE) === id) a[j] = -1;
    this.tagGen[id] = 0;
  }

  clear(): void {
    for (let id = 0; id < this.tags.length; id++) this.flushTag(id);
  }
}
