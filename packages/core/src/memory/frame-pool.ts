import { fail } from '../base/errors.js';

/** Order of the blocks that hold a hole's surrounding RAM back as a fallback zone (1 GiB). */
const ZONE_ORDER = 18;
/** Frames in a 2 MiB block (the granule of the sparse low-order bitmaps). */
const BLOCK_ORDER = 9;
const BLOCK_FRAMES = 1 << BLOCK_ORDER;
/** Word offset of order k's bits inside a 2 MiB block's bitmap (orders 0..8: 512+256+…+2 bits). */
const LOW_OFFSETS = [0, 16, 24, 28, 30, 31, 31, 31, 31];
const LOW_SHIFTS = [0, 0, 0, 0, 0, 0, 16, 24, 28];

/** A stack of frame numbers in a typed array that grows by doubling (never an object per frame). */
class FrameStack {
  private items = new Float64Array(16);
  length = 0;

  push(frame: number): void {
    if (this.length === this.items.length) {
      const bigger = new Float64Array(this.items.length * 2);
      bigger.set(this.items);
      this.items = bigger;
    }
    this.items[this.length++] = frame;
  }

  pop(): number {
    return this.items[--this.length];
  }
}

/**
 * The host's physical frames: one finite pool that the kernel's structures, the VMM's
 * ordinary pages and its huge pages all come from, so no frame is ever handed out twice.
 *
 * A binary buddy allocator, as Linux's page allocator is: a free block of order k is 2^k frames
 * aligned to 2^k; freeing merges a block with its free buddy, so memory freed in single frames
 * becomes 2 MiB and 1 GiB blocks again. Which blocks are free is kept in one bit per block and
 * order (dense above 2 MiB, one small bitmap per 2 MiB block below); each order also has a stack
 * of candidate blocks, checked against the bits when popped. Splitting keeps the upper half, so
 * frames come out top-down as on a real machine. Frames below `firstFrame` are firmware and the
 * kernel image and never handed out.
 *
 * Holes are frame ranges with no memory behind them (an MMIO window such as x86's interrupt range):
 * never free, so never handed out, and never merged across. The RAM around a hole is cut into
 * small blocks; if they sat in the free lists beside everything else, order-0 allocations (the
 * kernel's tables) would take them first and the kernel would live near the hole instead of low in
 * memory. So the 1 GiB blocks that contain a hole form a fallback zone, as Linux falls back from
 * one zone to the next: its RAM joins the free lists only when the rest of the pool cannot satisfy
 * a request. Until then allocations behave exactly as on a pool without the hole's gigabyte.
 */
export class FramePool {
  private readonly maxOrder: number;
  private readonly stacks: FrameStack[] = [];
  /** Orders ≥ 9: one bit per block, dense. */
  private readonly high: Uint32Array[] = [];
  /** Orders 0..8: one 32-word bitmap per 2 MiB block, made when the block is first split. */
  private readonly low = new Map<number, Uint32Array>();
  /** Frames at or above this were never handed out (so they are still zero). */
  private highWater: number;
  allocated = 0;
  /** Frames inside the holes: never handed out, never free. */
  readonly reserved: number;
  /** RAM ranges [start, end) of the fallback zone, released into the free lists on first need. */
  private fallback: [number, number][] = [];

  constructor(
    readonly firstFrame: number,
    readonly totalFrames: number,
    /** Frame ranges [start, end) with no memory behind them. */
    holes: readonly (readonly [number, number])[] = [],
    /** Order of the blocks around a hole held back as the fallback zone (1 GiB). */
    zoneOrder = ZONE_ORDER,
  ) {
    this.maxOrder = Math.floor(Math.log2(totalFrames));
    for (let k = 0; k <= this.maxOrder; k++) {
      this.stacks.push(new FrameStack());
      this.high.push(k >= BLOCK_ORDER ? new Uint32Array(Math.ceil(totalFrames / 2 ** k / 32) + 1) : new Uint32Array(0));
    }
    this.highWater = firstFrame;
    // Clip and sort the holes, then widen each to its 1 GiB zone.
    const cut = holes
      .map(([s, e]) => [Math.max(s, firstFrame), Math.min(e, totalFrames)] as [number, number])
      .filter(([s, e]) => s < e)
      .sort((a, b) => a[0] - b[0]);
    const zone = 2 ** zoneOrder;
    let from = firstFrame;
    let reserved = 0;
    for (let i = 0; i < cut.length; ) {
      const zStart = Math.max(from, Math.floor(cut[i][0] / zone) * zone);
      let zEnd = Math.min(totalFrames, Math.ceil(cut[i][1] / zone) * zone);
      let at = zStart;
      // Every hole that falls in this zone (a later hole may widen it).
      while (i < cut.length && cut[i][0] < zEnd) {
        const s = Math.max(cut[i][0], at);
        const e = cut[i][1];
        if (s > at) this.fallback.push([at, s]);
        if (e > s) reserved += e - Math.max(s, at);
        at = Math.max(at, e);
        zEnd = Math.min(totalFrames, Math.max(zEnd, Math.ceil(e / zone) * zone));
        i++;
      }
      if (at < zEnd) this.fallback.push([at, zEnd]);
      if (zStart > from) this.releaseRange(from, zStart - from);
      from = zEnd;
    }
    if (from < totalFrames) this.releaseRange(from, totalFrames - from);
    this.reserved = reserved;
  }

  /** Frames that are neither allocated, below firstFrame, nor in a hole (the fallback zone counts as free). */
  get freeFrames(): number {
    return this.totalFrames - this.firstFrame - this.reserved - this.allocated;
  }

  /** Moves the fallback zone into the free lists if it holds a block of order k; false if not. */
  private openFallback(k: number): boolean {
    const size = 2 ** k;
    if (!this.fallback.some(([s, e]) => Math.ceil(s / size) * size + size <= e)) return false;
    for (const [s, e] of this.fallback) this.releaseRange(s, e - s);
    this.fallback = [];
    return true;
  }

  // ---- free bits ---------------------------------------------------------------------------

  private isFree(k: number, f: number): boolean {
    if (k >= BLOCK_ORDER) {
      const b = f / 2 ** k;
      return (this.high[k][b >>> 5] & (1 << (b & 31))) !== 0;
    }
    const bits = this.low.get(Math.floor(f / BLOCK_FRAMES));
    if (!bits) return false;
    const i = ((f % BLOCK_FRAMES) >>> k) + LOW_SHIFTS[k];
    return (bits[LOW_OFFSETS[k] + (i >>> 5)] & (1 << (i & 31))) !== 0;
  }

  private setFree(k: number, f: number, free: boolean): void {
    let words: Uint32Array;
    let i: number;
    if (k >= BLOCK_ORDER) {
      words = this.high[k];
      i = f / 2 ** k;
    } else {
      const bi = Math.floor(f / BLOCK_FRAMES);
      let bits = this.low.get(bi);
      if (!bits) {
        if (!free) return;
        bits = new Uint32Array(32);
        this.low.set(bi, bits);
      }
      words = bits;
      i = ((f % BLOCK_FRAMES) >>> k) + LOW_SHIFTS[k] + LOW_OFFSETS[k] * 32;
    }
    if (free) words[i >>> 5] |= 1 << (i & 31);
    else words[i >>> 5] &= ~(1 << (i & 31));
  }

  private pushFree(k: number, f: number): void {
    this.setFree(k, f, true);
    this.stacks[k].push(f);
  }

  /** Pops a free block of order k, or -1 (stale stack entries are skipped). */
  private popFree(k: number): number {
    const s = this.stacks[k];
    while (s.length > 0) {
      const f = s.pop();
      if (this.isFree(k, f)) {
        this.setFree(k, f, false);
        return f;
      }
    }
    return -1;
  }

  // ---- allocation ----------------------------------------------------------------------------

  /** A free block of exactly order k (from the fallback zone only when nothing else has one); -1 if none. */
  private take(k: number): number {
    const f = this.takeListed(k);
    return f >= 0 || !this.openFallback(k) ? f : this.takeListed(k);
  }

  /** A free block of exactly order k from the free lists, splitting a larger one (keeping its upper half); -1 if none. */
  private takeListed(k: number): number {
    let j = k;
    let f = -1;
    for (; j <= this.maxOrder; j++) {
      f = this.popFree(j);
      if (f >= 0) break;
    }
    if (f < 0) return -1;
    while (j > k) {
      j--;
      this.pushFree(j, f);
      f += 2 ** j;
    }
    return f;
  }

  /** One frame; `zero` clears it if it was used before. */
  alloc1(zero: (frame: number, count: number) => void): number {
    const f = this.take(0);
    if (f < 0) fail('ENOMEM', this.exhausted(1, 1));
    this.allocated++;
    this.cleared(f, 1, zero);
    return f;
  }

  /**
   * `count` single frames into `out` from `at` on, in the order `count` calls of alloc1 would hand
   * them out, but a free block at a time instead of a split per frame: the smallest free block
   * first (as alloc1 takes it), its frames top-down, and of the last block only what is still
   * needed (the rest goes back). The caller has checked that `count` frames are free.
   */
  allocMany(out: Float64Array | Uint32Array, at: number, count: number, zero: (frame: number, count: number) => void): void {
    let left = count;
    while (left > 0) {
      let j = 0;
      let f = -1;
      for (; j <= this.maxOrder; j++) {
        f = this.popFree(j);
        if (f >= 0) break;
      }
      if (f < 0) {
        if (this.openFallback(0)) continue;
        fail('ENOMEM', this.exhausted(1, 1));
      }
      const n = 2 ** j;
      const used = Math.min(n, left);
      if (used < n) this.releaseRange(f, n - used);
      const lo = f + n - used;
      this.allocated += used;
      this.cleared(lo, used, zero);
      for (let i = used - 1; i >= 0; i--) out[at++] = lo + i;
      left -= used;
    }
  }

  /** `count` contiguous frames whose first frame is a multiple of `align` (a power of two). */
  allocContiguous(count: number, align: number, zero: (frame: number, count: number) => void): number {
    if (count === 1 && align === 1) return this.alloc1(zero);
    const k = Math.max(Math.ceil(Math.log2(count)), Math.ceil(Math.log2(align)));
    const f = k <= this.maxOrder ? this.take(k) : -1;
    if (f < 0) fail('ENOMEM', this.exhausted(count, align));
    // The tail of the power-of-two block goes straight back.
    if (count < 2 ** k) this.releaseRange(f + count, 2 ** k - count);
    this.allocated += count;
    this.cleared(f, count, zero);
    return f;
  }

  /** Returns frames to the pool, merging them with free buddies. */
  free(frame: number, count: number): void {
    this.allocated -= count;
    this.releaseRange(frame, count);
  }

  private cleared(f: number, count: number, zero: (frame: number, count: number) => void): void {
    if (f < this.highWater) zero(f, Math.min(count, this.highWater - f));
    if (f + count > this.highWater) this.highWater = f + count;
  }

  /** Frees [frame, frame + count) as maximal aligned blocks. */
  private releaseRange(frame: number, count: number): void {
    const end = frame + count;
    let f = frame;
    while (f < end) {
      let k = 0;
      while (k < this.maxOrder && f % 2 ** (k + 1) === 0 && f + 2 ** (k + 1) <= end) k++;
      this.freeBlock(f, k);
      f += 2 ** k;
    }
  }

  private freeBlock(f: number, k: number): void {
    while (k < this.maxOrder) {
      const size = 2 ** k;
      const buddy = f % (2 * size) === 0 ? f + size : f - size;
      if (buddy < this.firstFrame || buddy + size > this.totalFrames || !this.isFree(k, buddy)) break;
      this.setFree(k, buddy, false);
      f = Math.min(f, buddy);
      k++;
    }
    this.pushFree(k, f);
    if (k >= BLOCK_ORDER) this.dropLowBits(f, k);
  }

  /** A whole free 2 MiB block (or larger) needs no low-order bitmap any more. */
  private dropLowBits(f: number, k: number): void {
    const first = f / BLOCK_FRAMES;
    const blocks = 2 ** (k - BLOCK_ORDER);
    if (blocks === 1) this.low.delete(first);
    else if (this.low.size < blocks) for (const b of [...this.low.keys()]) (b >= first && b < first + blocks ? this.low.delete(b) : undefined);
    else for (let b = first; b < first + blocks; b++) this.low.delete(b);
  }

  private exhausted(count: number, align: number): string {
    const what = count === 1 ? 'a 4 KiB frame' : `${count} contiguous frames${align > 1 ? ` aligned to ${align} frames` : ''}`;
    return `host memory exhausted: no room for ${what} (${this.freeFrames} of ${this.totalFrames - this.firstFrame} frames free)`;
  }
}
