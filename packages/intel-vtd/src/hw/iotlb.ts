import type { CacheReadRecorder } from '@ioasid/core';
import { PGTT_FL_ONLY, PGTT_NESTED, PGTT_PT, PGTT_SL_ONLY } from '../tables/pasid-entry.js';

/** Page sizes a translation is cached at, in 4 KiB frames: 4 KiB, 2 MiB, 1 GiB. */
export const SIZE_FRAMES = [1, 512, 262144] as const;
export const SIZE_SHIFTS = [12, 21, 30] as const;

/** A cached translation as the device-TLB holds it. */
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

/** Whether a cached translation grants the access (an unprivileged one needs U/S at every level). */
export function tlbPermits(e: TlbEntry, write: boolean, privileged: boolean): boolean {
  return (write ? e.write : e.read) && (privileged || e.user);
}

/** The host frame a cached translation gives for `iovaFrame` (within its page). */
export function tlbOutFrame(e: TlbEntry, iovaFrame: number): number {
  return e.frame + (iovaFrame % SIZE_FRAMES[e.sizeIdx]);
}

/** Access bits of an IOTLB entry. */
export const TLB_R = 1;
export const TLB_W = 2;
/** An unprivileged request may use the entry (first level: U/S at every level). */
export const TLB_U = 4;
/**
 * Filled while second-stage A/D was on (SSADE) and the leaf's D flag clear: the entry serves reads
 * but not writes, so that a write walks again and sets D in memory (a cached D = 0 never hides a
 * write). Kept above the PGTT and size fields of an entry's data.
 */
export const TLB_CLEAN = 1 << 8;

/** Geometry of the modelled IOTLB: 4096 sets of 4 ways, 16384 entries. */
export const IOTLB_SETS = 4096;
export const IOTLB_WAYS = 4;

const DIDS = 1 << 16;
/** The tag's radix for PASIDs (20 bits) and for the size index (2 bits). */
const TAG_PASID = 1 << 20;
const TAG_SIZE = 4;

/**
 * IOTLB: final translations tagged with DID and PASID (the RID_PASID for requests without
 * PASID) and the page size they were found at. Filled by successful walks, cleared only by IOTLB
 * (second-level, pass-through and nested entries) and PASID-based IOTLB (first-level and nested
 * entries) invalidation descriptors, and by replacement when a set is full.
 *
 * Like the hardware it is bounded and set-associative: `sets` × `ways` entries in typed arrays,
 * the set chosen by the page number (at the entry's size) and the DID, round-robin replacement
 * within a set. A page-selective invalidation probes only the sets its pages map to; a
 * domain-selective one looks at the entries only when the DID has any.
 */
export class Iotlb {
  readonly sets: number;
  readonly ways: number;
  private readonly setMask: number;
  /**
   * The entries, 4 × ways numbers per set: first each way's key — 1 + the page number at the
   * entry's size (0 marks an invalid way) and tag, (DID × 2^20 + PASID) × 4 + size index — then each
   * way's data — output host frame of the page's first 4 KiB, and access bits | PGTT << 3 |
   * size index << 6. A set is one contiguous block, as a set is one row of a hardware array.
   * Slot `i` (set × ways + way) has its key at keyAt(i) and its data 2 × ways further on.
   */
  private readonly mem: Float64Array;
  /** Next way to replace, per set. */
  private readonly victim: Uint8Array;
  /** Valid entries per DID and per DID with PGTT nested (grown as DIDs appear), per page size, and in all. */
  private perDid = new Uint16Array(64);
  private nestedPerDid = new Uint16Array(64);
  private readonly perSize = [0, 0, 0];
  private valid = 0;

  constructor(sets = IOTLB_SETS, ways = IOTLB_WAYS) {
    if (sets <= 0 || (sets & (sets - 1)) !== 0) throw new Error('IOTLB sets must be a power of two');
    if (ways <= 0 || ways > 255 || sets * ways > 0xffff) throw new Error('IOTLB geometry out of range');
    this.sets = sets;
    this.ways = ways;
    this.setMask = sets - 1;
    // All zeros: every way invalid (and data only ever holds zeros or valid values).
    this.mem = new Float64Array(4 * sets * ways);
    this.victim = new Uint8Array(sets);
  }

  get capacity(): number {
    return this.sets * this.ways;
  }

  /** Index in `mem` of slot `i`'s key (its data is 2 × ways further on). */
  private keyAt(i: number): number {
    const way = i % this.ways;
    return 4 * (i - way) + 2 * way;
  }

  /** First slot of the set a page (number `pn` at size `s`) of domain `did` lives in. */
  private setBase(pn: number, s: number, did: number): number {
    return (((pn >>> 0) ^ (s << 10) ^ (Math.imul(did, 0x9e3779b1) >>> 20)) & this.setMask) * this.ways;
  }

  /**
   * The way of the set at `base` holding page `pn` under `tag`, or -1 (every way compared, as
   * translate() does). `rec` (a traced probe) is told each way's key and tag read, and the data
   * of a hit.
   */
  private probe(base: number, pn: number, tag: number, rec?: CacheReadRecorder): number {
    const mem = this.mem;
    const k0 = 4 * base;
    const key = pn + 1;
    let found = -1;
    for (let w = 0; w < this.ways; w++) {
      rec?.cacheRead(mem, k0 + 2 * w, 2);
      if (found < 0 && (+(mem[k0 + 2 * w] === key) & +(mem[k0 + 2 * w + 1] === tag)) !== 0) found = w;
    }
    if (found < 0) return -1;
    rec?.cacheRead(mem, k0 + 2 * this.ways + 2 * found, 2);
    return base + found;
  }

  /**
   * The slot holding a translation of `iovaFrame` for (DID, PASID), or -1. Smaller pages first.
   * `rec` is told every read of the entries the probe makes (see CacheRead).
   */
  lookup(did: number, pasid: number, iovaFrame: number, rec?: CacheReadRecorder): number {
    const tag = (did * TAG_PASID + pasid) * TAG_SIZE;
    const slot = this.perSize[0] !== 0 ? this.probe(this.setBase(iovaFrame, 0, did), iovaFrame, tag, rec) : -1;
    return slot >= 0 ? slot : this.lookupLarge(did, tag, iovaFrame, rec);
  }

  /** lookup() for the 2 MiB and 1 GiB entries. */
  private lookupLarge(did: number, tag: number, iovaFrame: number, rec?: CacheReadRecorder): number {
    const sz = this.perSize;
    let slot = -1;
    if (sz[1] !== 0) {
      const pn = Math.floor(iovaFrame / SIZE_FRAMES[1]);
      slot = this.probe(this.setBase(pn, 1, did), pn, tag + 1, rec);
    }
    if (slot < 0 && sz[2] !== 0) {
      const pn = Math.floor(iovaFrame / SIZE_FRAMES[2]);
      slot = this.probe(this.setBase(pn, 2, did), pn, tag + 2, rec);
    }
    return slot;
  }

  /**
   * The translation path in one call: the host frame for `iovaFrame` if a cached entry of
   * (DID, PASID) grants the access, else -1 (a miss, or an entry that does not grant it: then the
   * unit walks). The 4 KiB probe is lookup() written out, and a hit runs no operation a miss
   * did not (so that code optimised during misses is not thrown away at the first hit).
   */
  translate(did: number, pasid: number, iovaFrame: number, write: boolean, privileged: boolean): number {
    const tag = (did * TAG_PASID + pasid) * TAG_SIZE;
    const mem = this.mem;
    const ways = this.ways;
    let slot = -1;
    // Where the data of the slot found is. On a miss, the first way's of the set probed (zeros or
    // an old valid entry: the arithmetic below stays well-typed, and the fill that follows a
    // miss finds the set's data already fetched). Every operation here runs on hits and misses
    // alike: both outcomes are computed, then selected.
    let d = 2 * ways;
    if (this.perSize[0] !== 0) {
      // probe(setBase(iovaFrame, 0, did), iovaFrame, tag)
      const base = (((iovaFrame >>> 0) ^ (Math.imul(did, 0x9e3779b1) >>> 20)) & this.setMask) * ways;
      const k0 = 4 * base;
      const key = iovaFrame + 1;
      // Every way is compared, as a set's ways are compared at once: nothing branches on which
      // way matched (a refill reuses its way, so a key and tag are held by one way at most).
      let match = 0;
      for (let w = 0; w < ways; w++) match |= (+(mem[k0 + 2 * w] === key) & +(mem[k0 + 2 * w + 1] === tag)) << w;
      const found = 31 - Math.clz32(match);
      const hitSlot = base + found;
      const hitData = k0 + 2 * ways + 2 * found;
      slot = found >= 0 ? hitSlot : -1;
      d = found >= 0 ? hitData : k0 + 2 * ways;
    }
    if (slot < 0) {
      slot = this.lookupLarge(did, tag, iovaFrame);
      if (slot >= 0) d = this.keyAt(slot) + 2 * ways;
    }
    const meta = mem[d + 1];
    const s = (meta >> 6) & 3;
    const out = mem[d] + (s === 0 ? 0 : iovaFrame % SIZE_FRAMES[s]);
    const granted = ((meta & (write ? TLB_W | TLB_CLEAN : TLB_R)) === (write ? TLB_W : TLB_R) ? 1 : 0) & (privileged || (meta & TLB_U) !== 0 ? 1 : 0);
    return (granted & (slot >= 0 ? 1 : 0)) === 1 ? out : -1;
  }

  /** Whether the entry in `slot` grants the access. */
  permits(slot: number, write: boolean, privileged: boolean): boolean {
    const p = this.metaOf(slot);
    return (p & (write ? TLB_W | TLB_CLEAN : TLB_R)) === (write ? TLB_W : TLB_R) && (privileged || (p & TLB_U) !== 0);
  }

  /** The host frame the entry in `slot` gives for `iovaFrame`. */
  outFrame(slot: number, iovaFrame: number): number {
    return this.mem[this.keyAt(slot) + 2 * this.ways] + (iovaFrame % SIZE_FRAMES[this.sizeOf(slot)]);
  }

  /** The entry in `slot` as an object (for tests and dumps). */
  entry(slot: number): TlbEntry & { did: number; pasid: number } {
    const p = this.metaOf(slot);
    return {
      did: this.didOf(slot),
      pasid: this.pasidOf(slot),
      frame: this.mem[this.keyAt(slot) + 2 * this.ways],
      sizeIdx: this.sizeOf(slot),
      read: (p & TLB_R) !== 0,
      write: (p & TLB_W) !== 0,
      user: (p & TLB_U) !== 0,
      pgtt: this.pgttOf(slot),
    };
  }

  /**
   * Caches a translation: page `iovaFrame` lies in a page of size index `sizeIdx` whose first
   * 4 KiB is host frame `outFrame`; `perm` is TLB_R | TLB_W | TLB_U | TLB_CLEAN.
   */
  fill(did: number, pasid: number, iovaFrame: number, sizeIdx: number, outFrame: number, perm: number, pgtt: number): void {
    if (did >= this.perDid.length) this.counters(did);
    const mem = this.mem;
    const ways = this.ways;
    const tag = (did * TAG_PASID + pasid) * TAG_SIZE + sizeIdx;
    const pn = sizeIdx === 0 ? iovaFrame : Math.floor(iovaFrame / SIZE_FRAMES[sizeIdx]);
    const base = this.setBase(pn, sizeIdx, did);
    const k0 = 4 * base;
    const key = pn + 1;
    const way = this.wayFor(base, key, tag);
    const k = k0 + 2 * way;
    if (mem[k] !== 0) this.dropKey(k);
    mem[k] = key;
    mem[k + 1] = tag;
    mem[k + 2 * ways] = sizeIdx === 0 ? outFrame : outFrame - (iovaFrame % SIZE_FRAMES[sizeIdx]);
    mem[k + 2 * ways + 1] = perm | (pgtt << 3) | (sizeIdx << 6);
    this.perDid[did]++;
    if (pgtt === PGTT_NESTED) this.nestedPerDid[did]++;
    this.perSize[sizeIdx]++;
    this.valid++;
  }

  /** The way of the set at `base` to fill for `key` and `tag`: the one holding it already (a refill), else a free one, else the next victim. */
  private wayFor(base: number, key: number, tag: number): number {
    const mem = this.mem;
    const ways = this.ways;
    const k0 = 4 * base;
    let free = -1;
    for (let w = 0; w < ways; w++) {
      const k = mem[k0 + 2 * w];
      if (k === key && mem[k0 + 2 * w + 1] === tag) return w;
      if (free < 0 && k === 0) free = w;
    }
    if (free >= 0) return free;
    const set = base / ways;
    const way = this.victim[set];
    this.victim[set] = way + 1 === ways ? 0 : way + 1;
    return way;
  }

  /** Makes the per-DID counters cover `did`. */
  private counters(did: number): void {
    let len = this.perDid.length;
    while (len <= did) len *= 2;
    const a = new Uint16Array(Math.min(len, DIDS));
    const b = new Uint16Array(a.length);
    a.set(this.perDid);
    b.set(this.nestedPerDid);
    this.perDid = a;
    this.nestedPerDid = b;
  }

  /** Valid entries tagged with `did`. */
  private entriesOf(did: number): number {
    return did < this.perDid.length ? this.perDid[did] : 0;
  }

  private isValid(i: number): boolean {
    return this.mem[this.keyAt(i)] !== 0;
  }

  private pnOf(i: number): number {
    return this.mem[this.keyAt(i)] - 1;
  }

  private didOf(i: number): number {
    return Math.floor(this.mem[this.keyAt(i) + 1] / (TAG_PASID * TAG_SIZE));
  }

  private pasidOf(i: number): number {
    return Math.floor(this.mem[this.keyAt(i) + 1] / TAG_SIZE) % TAG_PASID;
  }

  private metaOf(i: number): number {
    return this.mem[this.keyAt(i) + 2 * this.ways + 1];
  }

  private sizeOf(i: number): number {
    return (this.metaOf(i) >> 6) & 3;
  }

  private pgttOf(i: number): number {
    return (this.metaOf(i) >> 3) & 7;
  }

  private drop(i: number): void {
    this.dropKey(this.keyAt(i));
  }

  /** Invalidates the valid entry whose key is at `k` in `mem` (its data is 2 × ways further on). */
  private dropKey(k: number): void {
    const mem = this.mem;
    const did = Math.floor(mem[k + 1] / (TAG_PASID * TAG_SIZE));
    const meta = mem[k + 2 * this.ways + 1];
    this.perDid[did]--;
    if (((meta >> 3) & 7) === PGTT_NESTED) this.nestedPerDid[did]--;
    this.perSize[(meta >> 6) & 3]--;
    this.valid--;
    mem[k] = 0;
    mem[k + 1] = 0;

  }

  get size(): number {
    return this.valid;
  }

  invalidateAll(): void {
    if (this.valid === 0) return;
    this.mem.fill(0);
    this.perDid.fill(0);
    this.nestedPerDid.fill(0);
    this.perSize.fill(0);
    this.valid = 0;
  }

  /**
   * IOTLB invalidation descriptor, domain- or page-selective: second-level and pass-through
   * entries of the DID in the range; nested entries of the DID whatever their input address, as
   * the range is in second-stage input (GPA) terms and the cached input is first-stage (GVA).
   */
  invalidateDomain(did: number, range?: { frame: number; frames: number }): void {
    if (this.entriesOf(did) === 0) return;
    // Nested entries go whatever their address: that needs a look at every entry of the DID.
    if (!range || this.nestedPerDid[did] !== 0) this.sweep(did, -1, range);
    else this.inRange(did, -1, range);
  }

  /** PASID-based IOTLB invalidation: first-level and nested entries of (DID, PASID), all or in a range. */
  invalidatePasid(did: number, pasid: number, range?: { frame: number; frames: number }): void {
    if (this.entriesOf(did) === 0) return;
    if (!range) this.sweep(did, pasid, range);
    else this.inRange(did, pasid, range);
  }

  /**
   * Whether an invalidation drops the valid entry in slot `i`: an IOTLB invalidation (pasid -1)
   * the DID's second-level, pass-through and nested entries (nested ones whatever the range); a
   * PASID-based one the first-level and nested entries of (DID, PASID); with a range, only entries
   * overlapping it (but for nested ones in an IOTLB invalidation).
   */
  private selects(i: number, did: number, pasid: number, range: { frame: number; frames: number } | undefined): boolean {
    if (this.didOf(i) !== did) return false;
    const pgtt = this.pgttOf(i);
    if (pasid < 0) {
      if (pgtt === PGTT_FL_ONLY) return false;
      return !range || pgtt === PGTT_NESTED || this.overlaps(i, range);
    }
    if (this.pasidOf(i) !== pasid || pgtt === PGTT_SL_ONLY || pgtt === PGTT_PT) return false;
    return !range || this.overlaps(i, range);
  }

  /** Looks at every entry: drops those selects() picks. Entries of other DIDs cost a tag comparison. */
  private sweep(did: number, pasid: number, range: { frame: number; frames: number } | undefined): void {
    const mem = this.mem;
    const ways = this.ways;
    // Tags of the DID lie in [lo, lo + 2^22).
    const lo = did * TAG_PASID * TAG_SIZE;
    const hi = lo + TAG_PASID * TAG_SIZE;
    for (let set = 0; set < this.sets; set++) {
      const k0 = 4 * ways * set;
      for (let w = 0; w < ways; w++) {
        if (mem[k0 + 2 * w] === 0) continue;
        const tag = mem[k0 + 2 * w + 1];
        if (tag < lo || tag >= hi) continue;
        const i = set * ways + w;
        if (this.selects(i, did, pasid, range)) this.drop(i);
      }
    }
  }

  /** sweep() for a range: probes only the sets its pages map to, unless they are more than the sets. */
  private inRange(did: number, pasid: number, range: { frame: number; frames: number }): void {
    const last = range.frame + range.frames - 1;
    let probes = 0;
    for (let s = 0; s < 3; s++) if (this.perSize[s] !== 0) probes += Math.floor(last / SIZE_FRAMES[s]) - Math.floor(range.frame / SIZE_FRAMES[s]) + 1;
    if (probes > this.sets) return this.sweep(did, pasid, range);
    for (let s = 0; s < 3; s++) {
      if (this.perSize[s] === 0) continue;
      const n = SIZE_FRAMES[s];
      for (let pn = Math.floor(range.frame / n); pn <= Math.floor(last / n); pn++) {
        const base = this.setBase(pn, s, did);
        for (let i = base; i < base + this.ways; i++) {
          if (this.isValid(i) && this.pnOf(i) === pn && this.sizeOf(i) === s && this.selects(i, did, pasid, range)) this.drop(i);
        }
      }
    }
  }

  /** Whether the page cached in slot `i` overlaps [frame, frame+frames). */
  private overlaps(i: number, range: { frame: number; frames: number }): boolean {
    const n = SIZE_FRAMES[this.sizeOf(i)];
    const base = this.pnOf(i) * n;
    return base < range.frame + range.frames && range.frame < base + n;
  }
}

/** Whether the cached page under key `k` (page base × 4 + size index) overlaps [frame, frame+frames). */
export function overlaps(k: number, range: { frame: number; frames: number }): boolean {
  const s = k % 4;
  const base = (k - s) / 4;
  return base < range.frame + range.frames && range.frame < base + SIZE_FRAMES[s];
}

export function sizeIdxForShift(shift: number): number {
  return shift >= 30 ? 2 : shift >= 21 ? 1 : 0;
}
