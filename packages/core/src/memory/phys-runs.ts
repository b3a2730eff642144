import type { FrameArray } from './host-memory.js';

/**
 * The host frames behind a range of pinned pages, as the radix engine consumes them:
 * `frame(i)` is the 4 KiB frame of page i, `run(i)` how many frames from page i on are
 * physically contiguous (so the engine can pick 2 MiB / 1 GiB / block leaves).
 * The implementations are classes, not closures, so the engine's call sites stay monomorphic.
 */
export interface PhysRuns {
  frame(i: number): number;
  run(i: number): number;
  /**
   * Optional, for pages whose frames a table holds one by one: the array holding page i's
   * frame, which sets `slotAt` to its index there and `slotCount` to how many pages from i on
   * follow in that array. The engine then reads 4 KiB frames in place instead of calling frame() for each.
   * A 0 in it is a page not populated (frame() says so).
   */
  slots?(i: number): FrameArray;
  slotAt?: number;
  slotCount?: number;
}

/** A single physically contiguous range. */
export class ContiguousRuns implements PhysRuns {
  constructor(
    private readonly first: number,
    private readonly frames: number,
  ) {}
  frame(i: number): number {
    return this.first + i;
  }
  run(i: number): number {
    return this.frames - i;
  }
}

/** Pages on descending frames from `top`: never physically ascending, so only 4 KiB leaves map them. */
export class ScatteredRuns implements PhysRuns {
  constructor(private readonly top: number) {}
  frame(i: number): number {
    return this.top - i;
  }
  run(): number {
    return 1;
  }
}

/**
 * Ordinary VMM memory: each page's frame from the region's frame table (a typed-array leaf per
 * `leafPages` pages), every page on its own, so only 4 KiB leaves map it.
 */
export class FrameTableRuns implements PhysRuns {
  private leafIndex = -1;
  private leaf: FrameArray | undefined;
  /** The leaf size as a bit mask (leafPages is a power of two) and its reciprocal. */
  private readonly mask: number;
  private readonly inv: number;

  constructor(
    private readonly leaves: ReadonlyMap<number, FrameArray>,
    private readonly firstPage: number,
    private readonly leafPages: number,
  ) {
    this.mask = leafPages - 1;
    this.inv = 1 / leafPages;
  }

  /**
   * The frame of page firstPage + i: one bit mask for the slot in its leaf (exact for any safe
   * integer: ToInt32 keeps the low bits) and a multiplication by a power of two for the leaf (exact
   * in a double), the leaf looked up again only when the page crosses into the next one.
   */
  frame(i: number): number {
    const p = this.firstPage + i;
    const q = this.seek(p);
    const f = this.leaf !== undefined ? this.leaf[q] : 0;
    if (f === 0) throw new RangeError(`page ${p} of the mapping is not populated`);
    return f;
  }

  slotAt = 0;
  slotCount = 0;

  /** Makes `leaf` the leaf of page p; returns p's slot in it. */
  private seek(p: number): number {
    const q = p & this.mask;
    const li = (p - q) * this.inv;
    if (li !== this.leafIndex) {
      this.leafIndex = li;
      this.leaf = this.leaves.get(li);
    }
    return q;
  }

  slots(i: number): FrameArray {
    const p = this.firstPage + i;
    const q = this.seek(p);
    if (this.leaf === undefined) throw new RangeError(`page ${p} of the mapping is not populated`);
    this.slotAt = q;
    this.slotCount = this.leafPages - q;
    return this.leaf;
  }

  run(): number {
    return 1;
  }
}

/** Huge-page VMM memory: contiguous up to the end of each naturally aligned huge page. */
export class HugePageRuns implements PhysRuns {
  constructor(
    private readonly bases: Float64Array,
    private readonly firstPage: number,
    private readonly hugeFrames: number,
  ) {}
  frame(i: number): number {
    const p = this.firstPage + i;
    const u = Math.floor(p / this.hugeFrames);
    return this.bases[u] + (p - u * this.hugeFrames);
  }
  run(i: number): number {
    return this.hugeFrames - ((this.firstPage + i) % this.hugeFrames);
  }
}

export function contiguousRuns(firstFrame: number, frames: number): PhysRuns {
  return new ContiguousRuns(firstFrame, frames);
}
