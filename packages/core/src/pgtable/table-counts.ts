/** Frames per block of counts: one block covers 16 MiB of host memory. */
const BLOCK_FRAMES = 4096;
const INV_BLOCK_FRAMES = 1 / BLOCK_FRAMES;
/** A frame with no count (not the first frame of a table the engine built). */
const ABSENT = -0x80000000;

/**
 * The engine's count of non-empty entries per table, keyed by the table's first frame: blocks of
 * 4096 counts (one Int32Array per 16 MiB of host memory that holds any table the engine built),
 * found through a small map of blocks and a memo of the last. A count is one array element, so
 * building 32768 leaf tables (a 64 GiB map at 4 KiB) costs no hash-table growth and no rehash,
 * which a Map of one entry per table did, at a cost that grew with the map.
 */
export class TableCounts {
  private readonly blocks = new Map<number, Int32Array>();
  private lastIndex = -1;
  private last: Int32Array | undefined;

  /** The count of the table at `frame`, or undefined when the engine has none for it. */
  get(frame: number): number | undefined {
    const b = this.block(frame, false);
    if (b === undefined) return undefined;
    const n = b[frame & (BLOCK_FRAMES - 1)];
    return n === ABSENT ? undefined : n;
  }

  set(frame: number, n: number): void {
    this.block(frame, true)![frame & (BLOCK_FRAMES - 1)] = n;
  }

  /** Adds `n` to the table's count (a table without one starts at 0). */
  add(frame: number, n: number): void {
    const b = this.block(frame, true)!;
    const i = frame & (BLOCK_FRAMES - 1);
    const was = b[i];
    b[i] = (was === ABSENT ? 0 : was) + n;
  }

  delete(frame: number): void {
    const b = this.block(frame, false);
    if (b !== undefined) b[frame & (BLOCK_FRAMES - 1)] = ABSENT;
  }

  /** The block holding `frame`'s count (`& (BLOCK_FRAMES - 1)` is exact for any safe integer frame). */
  private block(frame: number, make: boolean): Int32Array | undefined {
    const bi = (frame - (frame & (BLOCK_FRAMES - 1))) * INV_BLOCK_FRAMES;
    if (bi === this.lastIndex) return this.last;
    let b = this.blocks.get(bi);
    if (b === undefined) {
      if (!make) return undefined;
      b = new Int32Array(BLOCK_FRAMES).fill(ABSENT);
      this.blocks.set(bi, b);
    }
    this.lastIndex = bi;
    this.last = b;
    return b;
  }
}
