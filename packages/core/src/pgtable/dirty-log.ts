/**
 * Where a dirty harvest reports (GET_DIRTY_BITMAP, and the clearing SET_DIRTY_TRACKING does):
 * each dirty leaf as the run of 4 KiB input frames it maps, turned at once into bits of the
 * user's bitmap (bit b = the page at `first + b · pageFrames`), and kept as merged runs for the
 * driver's IOTLB invalidation. Frame numbers are plain numbers (an input frame is below 2^52).
 */
const NO_BITMAP = new Uint8Array(0);

export class DirtyLog {
  /** Frames past the range asked for. */
  readonly end: number;
  /** Dirty runs reported, merged where one ends at the next one's start: [start, end, start, end, …]. */
  readonly runs: number[] = [];
  /** Lowest first frame and highest end frame reported (both 0 while nothing is: see `leaves`). */
  low = 0;
  high = 0;
  /** Leaves reported. */
  leaves = 0;

  /**
   * @param first first input frame asked for
   * @param frames frames asked for
   * @param bitmap the bitmap to set bits in (empty: only collect runs)
   * @param pageFrames frames per bit (pageSize / 4 KiB, a power of two)
   */
  constructor(
    readonly first: number,
    readonly frames: number,
    readonly bitmap: Uint8Array = NO_BITMAP,
    readonly pageFrames = 1,
  ) {
    this.end = first + frames;
  }

  /** A dirty leaf mapping input frames [frame, frame + frames): its bits within the range are set. */
  mark(frame: number, frames: number): void {
    const end = frame + frames;
    if (this.leaves++ === 0 || frame < this.low) this.low = frame;
    if (end > this.high) this.high = end;
    const n = this.runs.length;
    if (n > 0 && this.runs[n - 1] === frame) this.runs[n - 1] = end;
    else this.runs.push(frame, end);
    if (this.bitmap.length === 0) return;
    const s = frame > this.first ? frame : this.first;
    const e = end < this.end ? end : this.end;
    if (s >= e) return;
    setBits(this.bitmap, Math.floor((s - this.first) / this.pageFrames), Math.floor((e - 1 - this.first) / this.pageFrames));
  }

  /** The reported runs as byte ranges (iova, size), in the order reported. */
  ranges(): { iova: bigint; size: bigint }[] {
    const out: { iova: bigint; size: bigint }[] = [];
    for (let k = 0; k < this.runs.length; k += 2) out.push({ iova: BigInt(this.runs[k]) * 4096n, size: BigInt(this.runs[k + 1] - this.runs[k]) * 4096n });
    return out;
  }
}

/** Sets bits b0..b1 (inclusive) of a little-endian bitmap, whole bytes at a time between the ends. */
function setBits(bitmap: Uint8Array, b0: number, b1: number): void {
  if (b1 - b0 < 16) {
    for (let b = b0; b <= b1; b++) bitmap[b >>> 3] |= 1 << (b & 7);
    return;
  }
  let b = b0;
  for (; (b & 7) !== 0; b++) bitmap[b >>> 3] |= 1 << (b & 7);
  const lastWhole = b1 + 1 - ((b1 + 1) % 8);
  bitmap.fill(0xff, b >>> 3, lastWhole >>> 3);
  for (b = lastWhole; b <= b1; b++) bitmap[b >>> 3] |= 1 << (b & 7);
}
