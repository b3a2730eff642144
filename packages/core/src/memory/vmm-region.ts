import { fail } from '../base/errors.js';
import type { FrameArray, HostMemory } from './host-memory.js';
import { PAGE_SHIFT } from './host-memory.js';
import { FrameTableRuns, HugePageRuns, type PhysRuns } from './phys-runs.js';

/**
 * Pages per leaf of an ordinary region's frame table: one 32 KiB leaf per 16 MiB of virtual space
 * (with a leaf per 2 MiB, creating 512 typed arrays took about a quarter of a cold 1 GiB MAP_DMA).
 */
const LEAF_PAGES = 4096;
const NO_PAGES = new Float64Array(0);

/**
 * One mmap'd range of the VMM's address space and the host frames behind it. Pages are
 * populated on first touch (a write, a pin); touching past the host's memory fails with ENOMEM
 * and changes nothing.
 */
export abstract class VmmRegion {
  readonly pages: number;

  constructor(
    protected readonly host: HostMemory,
    readonly vaddr: bigint,
    readonly size: bigint,
  ) {
    this.pages = Number(size >> BigInt(PAGE_SHIFT));
  }

  get end(): bigint {
    return this.vaddr + this.size;
  }

  /** 1 for ordinary memory, 512 or 262144 frames for huge pages. */
  abstract readonly hugeFrames: number;

  /** Host frame of page `p`, or -1 while an ordinary page was never touched. */
  abstract frameOf(p: number): number;

  /** Frames physically contiguous from page `p` on (1 for ordinary memory). */
  abstract contiguousFrom(p: number): number;

  /** The host frames of the (populated) pages from `firstPage` on, for the radix engine. */
  abstract runs(firstPage: number): PhysRuns;

  /**
   * Populates pages [first, first+count): all or nothing, ENOMEM when host memory cannot hold
   * them. Returns what this call populated, for `unpopulate` to give back (a failed command).
   */
  abstract populate(first: number, count: number): Float64Array;

  /** Gives back what one `populate` call took. */
  abstract unpopulate(taken: Float64Array): void;

  /** Frames this region holds populated. */
  abstract populatedFrames(): number;

  /** Returns every frame to the host (munmap). */
  abstract release(): void;

  /** Populates pages [first, first+count) (first touch). */
  touch(first: number, count: number): void {
    this.populate(first, count);
  }
}

/**
 * Ordinary anonymous memory: a page gets a frame at first touch, from wherever the host has
 * one (the allocator hands them out top-down), and only 4 KiB IOPTEs map it, as with scattered
 * 4 KiB pages.
 * The frame table is a typed-array leaf per 16 MiB of virtual space, taken from the host when
 * first touched and given back at munmap.
 */
export class OrdinaryRegion extends VmmRegion {
  readonly hugeFrames = 1;
  private readonly leaves = new Map<number, FrameArray>();
  /** Populated pages per leaf: a pin of memory already touched (every re-map) need not look at each page. */
  private readonly counts = new Map<number, number>();
  private populated = 0;

  frameOf(p: number): number {
    const leaf = this.leaves.get(Math.floor(p / LEAF_PAGES));
    const f = leaf ? leaf[p % LEAF_PAGES] : 0;
    return f === 0 ? -1 : f;
  }

  contiguousFrom(): number {
    return 1;
  }

  runs(firstPage: number): PhysRuns {
    return new FrameTableRuns(this.leaves, firstPage, LEAF_PAGES);
  }

  /** Untouched pages in [first, first+count). */
  private missing(first: number, count: number): number {
    let n = 0;
    const end = first + count;
    for (let p = first; p < end; ) {
      const li = Math.floor(p / LEAF_PAGES);
      const stop = Math.min(end, (li + 1) * LEAF_PAGES);
      const leaf = this.leaves.get(li);
      const held = this.counts.get(li) ?? 0;
      if (!leaf || held === 0) n += stop - p;
      else if (held < LEAF_PAGES) for (let q = p % LEAF_PAGES, e = q + (stop - p); q < e; q++) if (leaf[q] === 0) n++;
      p = stop;
    }
    return n;
  }

  /**
   * Each run of untouched pages gets its frames straight into the frame table, from the host in
   * bulk (a free block at a time). Returns the runs populated as (first page, count) pairs.
   */
  populate(first: number, count: number): Float64Array {
    const need = this.missing(first, count);
    if (need === 0) return NO_PAGES;
    if (need > this.host.framesFree) {
      fail('ENOMEM', `populating ${need} page(s) of the VMM mapping at 0x${this.vaddr.toString(16)} needs more host memory than is free (${this.host.framesFree} frames)`);
    }
    const runs: number[] = [];
    const end = first + count;
    for (let p = first; p < end; ) {
      const li = Math.floor(p / LEAF_PAGES);
      const stop = Math.min(end, (li + 1) * LEAF_PAGES);
      const base = li * LEAF_PAGES;
      const leaf = this.leaves.get(li);
      if (leaf === undefined) {
        // A leaf never touched: its frames straight from the host, no page to skip.
        const fresh = this.host.takeFrameLeaf(LEAF_PAGES);
        this.leaves.set(li, fresh);
        this.host.allocUserFrames(fresh, p - base, stop - p);
        addRun(runs, p, stop - p);
        this.counts.set(li, stop - p);
      } else if ((this.counts.get(li) ?? 0) < LEAF_PAGES) {
        const added = fillHoles(this.host, leaf, p - base, stop - base, base, runs);
        this.counts.set(li, (this.counts.get(li) ?? 0) + added);
      }
      p = stop;
    }
    this.populated += need;
    return new Float64Array(runs);
  }

  unpopulate(taken: Float64Array): void {
    for (let k = 0; k < taken.length; k += 2) {
      for (let p = taken[k], end = p + taken[k + 1]; p < end; ) {
        const li = Math.floor(p / LEAF_PAGES);
        const leaf = this.leaves.get(li)!;
        const q0 = p - li * LEAF_PAGES;
        const n = Math.min(end - p, LEAF_PAGES - q0);
        const frames = leaf.slice(q0, q0 + n);
        leaf.fill(0, q0, q0 + n);
        this.counts.set(li, (this.counts.get(li) ?? 0) - n);
        freeRuns(this.host, frames, n);
        this.populated -= n;
        p += n;
      }
    }
  }

  populatedFrames(): number {
    return this.populated;
  }

  release(): void {
    for (const leaf of this.leaves.values()) {
      let n = 0;
      for (let q = 0; q < LEAF_PAGES; q++) if (leaf[q] !== 0) leaf[n++] = leaf[q];
      freeRuns(this.host, leaf, n);
      this.host.giveFrameLeaf(leaf);
    }
    this.leaves.clear();
    this.counts.clear();
    this.populated = 0;
  }
}

/** Appends the page run [p, p + n) to `runs` ((first, count) pairs), merged with the last one when adjacent. */
function addRun(runs: number[], p: number, n: number): void {
  const last = runs.length - 2;
  if (last >= 0 && runs[last] + runs[last + 1] === p) runs[last + 1] += n;
  else runs.push(p, n);
}

/** Gives frames to the untouched pages [q, e) of a leaf (whose first page is `base`), a run of them at a time; how many. */
function fillHoles(host: HostMemory, leaf: FrameArray, q: number, e: number, base: number, runs: number[]): number {
  let added = 0;
  while (q < e) {
    if (leaf[q] !== 0) {
      q++;
      continue;
    }
    let r = q + 1;
    while (r < e && leaf[r] === 0) r++;
    host.allocUserFrames(leaf, q, r - q);
    addRun(runs, base + q, r - q);
    added += r - q;
    q = r;
  }
  return added;
}

/**
 * Gives `frames[0..n)` back to the host, each run of consecutive frames (ascending or descending,
 * as bulk population hands them out) as one range, so the buddy pool merges blocks, not frames.
 */
function freeRuns(host: HostMemory, frames: FrameArray, n: number): void {
  let i = 0;
  while (i < n) {
    let j = i + 1;
    const step = j < n ? frames[j] - frames[i] : 0;
    if (step === 1 || step === -1) while (j < n && frames[j] - frames[j - 1] === step) j++;
    const lo = step === -1 ? frames[j - 1] : frames[i];
    host.freeUserFrames(lo, j - i);
    i = j;
  }
}

/**
 * hugetlbfs-like memory: every huge page is a naturally aligned, physically contiguous host
 * range reserved at mmap (ENOMEM then if the host has no such block), counted as in use from
 * its first touch.
 */
export class HugeRegion extends VmmRegion {
  private readonly bases: Float64Array;
  /** One bit per huge page: touched. */
  private readonly touched: Uint32Array;

  private constructor(host: HostMemory, vaddr: bigint, size: bigint, readonly hugeFrames: number, bases: Float64Array) {
    super(host, vaddr, size);
    this.bases = bases;
    this.touched = new Uint32Array(Math.ceil(bases.length / 32));
  }

  /** Reserves every huge page of the mapping, all or nothing. */
  static reserve(host: HostMemory, vaddr: bigint, size: bigint, hugeFrames: number): HugeRegion {
    const n = Number(size >> BigInt(PAGE_SHIFT)) / hugeFrames;
    if (n * hugeFrames > host.framesFree) {
      fail('ENOMEM', `no room for ${n} huge page(s) of ${hugeFrames * 4} KiB in host memory (${host.framesFree} frames free)`);
    }
    const bases = new Float64Array(n);
    let k = 0;
    try {
      for (; k < n; k++) bases[k] = host.reserveHugePage(hugeFrames);
    } catch (e) {
      for (let j = 0; j < k; j++) host.releaseHugePage(bases[j], hugeFrames);
      throw e;
    }
    return new HugeRegion(host, vaddr, size, hugeFrames, bases);
  }

  frameOf(p: number): number {
    return this.bases[Math.floor(p / this.hugeFrames)] + (p % this.hugeFrames);
  }

  contiguousFrom(p: number): number {
    return this.hugeFrames - (p % this.hugeFrames);
  }

  runs(firstPage: number): PhysRuns {
    return new HugePageRuns(this.bases, firstPage, this.hugeFrames);
  }

  populate(first: number, count: number): Float64Array {
    const lo = Math.floor(first / this.hugeFrames);
    const hi = Math.floor((first + count - 1) / this.hugeFrames);
    let added = 0;
    for (let u = lo; u <= hi; u++) if ((this.touched[u >>> 5] & (1 << (u & 31))) === 0) added++;
    if (added === 0) return NO_PAGES;
    const taken = new Float64Array(added);
    let k = 0;
    for (let u = lo; u <= hi; u++) {
      const m = 1 << (u & 31);
      if ((this.touched[u >>> 5] & m) !== 0) continue;
      this.touched[u >>> 5] |= m;
      taken[k++] = u;
    }
    this.host.notePopulated(added * this.hugeFrames);
    return taken;
  }

  unpopulate(taken: Float64Array): void {
    for (let k = 0; k < taken.length; k++) {
      const u = taken[k];
      this.touched[u >>> 5] &= ~(1 << (u & 31));
    }
    this.host.notePopulated(-taken.length * this.hugeFrames);
  }

  populatedFrames(): number {
    let n = 0;
    for (const w of this.touched) n += popcount(w);
    return n * this.hugeFrames;
  }

  release(): void {
    this.host.notePopulated(-this.populatedFrames());
    this.touched.fill(0);
    for (let k = 0; k < this.bases.length; k++) this.host.releaseHugePage(this.bases[k], this.hugeFrames);
  }
}

function popcount(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}
