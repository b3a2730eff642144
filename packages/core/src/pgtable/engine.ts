import { fail } from '../base/errors.js';
import { PAGE_SIZE } from '../memory/host-memory.js';
import type { FrameMemory } from '../memory/frame-memory.js';
import type { PhysRuns } from '../memory/phys-runs.js';
import { DEFAULT_OUTPUT_BITS, EntryKind, entryShift, outputFrameLimit, tableFrames, type PtFormat } from './format.js';
import { ptWalk, type DumpBudget, type DumpTable, type Leaf, type WalkStep } from './iter.js';
import { ptDump } from './views.js';
import { TableCounts } from './table-counts.js';

// The view types moved to the iterator they come from; re-exported for code that imports them from here.
export type { DumpBudget, DumpEntry, DumpTable, Leaf, WalkStep } from './iter.js';

/**
 * One radix engine for every format. Addresses are 4 KiB frame numbers relative to
 * the table's input base. The engine reads and writes only host memory: no shadow of the tree.
 */
export class RadixPageTable {
  readonly top: number;
  /** Frames covered by one entry at each level. */
  private readonly entryFrames: number[];
  private readonly entryBits: number[];
  /** Per level, computed once: entries per table (2^entryBits), frames a table spans, frames a table takes, the reciprocal of entryFrames. */
  private readonly perTable: number[];
  private readonly tableSpan: number[];
  private readonly tableSize: number[];
  private readonly invEntryFrames: number[];
  private readonly cacheFrame: number[];
  private readonly cacheBase: number[];
  /**
   * Frames a level-0 leaf covers, as a small integer: the step of the map and unmap loops. (A
   * value read from entryFrames is a double once any level spans 2^31 frames or more, and a
   * double step made those loops about twice as slow.)
   */
  private readonly leafSpan: number;
  /** First frame an entry cannot hold (2^(outputBits-12)). */
  private readonly outLimit: number;
  private tables = 0;
  /** The table tableFor allocated last during the current map() (-1: none yet): it holds only what that map wrote. */
  private freshTable = -1;
  /**
   * Non-empty entries per table this engine built, keyed by the table's first frame (one number
   * per table, never per entry), so an unmap knows a table emptied without rescanning it.
   */
  private readonly used = new TableCounts();

  private constructor(
    readonly mem: FrameMemory,
    readonly fmt: PtFormat,
    readonly root: number,
  ) {
    this.top = fmt.levels - 1;
    this.entryFrames = [];
    this.entryBits = [];
    for (let l = 0; l < fmt.levels; l++) {
      const frames = 2 ** (entryShift(fmt, l) - 12);
      // Small integers where they fit (2 ** k is a double even when it is small).
      this.entryFrames.push(frames < 2 ** 30 ? frames | 0 : frames);
      this.entryBits.push(fmt.levelBits(l));
    }
    this.leafSpan = this.entryFrames[0] | 0;
    this.perTable = this.entryBits.map((b) => 2 ** b);
    this.tableSpan = this.entryFrames.map((f, l) => f * this.perTable[l]);
    this.tableSize = this.entryBits.map((_, l) => tableFrames(fmt, l));
    this.invEntryFrames = this.entryFrames.map((f) => 1 / f);
    this.cacheFrame = new Array(fmt.levels).fill(-1);
    this.cacheBase = new Array(fmt.levels).fill(-1);
    this.outLimit = outputFrameLimit(fmt);
  }

  /** ERANGE for an output address the format cannot hold (io-pgtable-arm refuses paddr >> oas the same way). */
  private checkOutput(frame: number, frames: number, what: string): void {
    if (frame + frames > this.outLimit) {
      fail('ERANGE', `${what} 0x${(BigInt(frame) << 12n).toString(16)} does not fit the ${this.fmt.outputBits ?? DEFAULT_OUTPUT_BITS}-bit output address of ${this.fmt.name} entries`);
    }
  }

  /** Allocates an empty top-level table (naturally aligned to its size). */
  static create(mem: FrameMemory, fmt: PtFormat): RadixPageTable {
    const n = tableFrames(fmt, fmt.levels - 1);
    const root = mem.allocFrames(n, n);
    const t = new RadixPageTable(mem, fmt, root);
    t.tables = 1;
    return t;
  }

  /** A view over a table someone else built (a guest's, or for decoding from registers). */
  static view(mem: FrameMemory, fmt: PtFormat, rootFrame: number): RadixPageTable {
    return new RadixPageTable(mem, fmt, rootFrame);
  }

  get rootAddr(): bigint {
    return BigInt(this.root) * BigInt(PAGE_SIZE);
  }

  /** Frames covered by a leaf at `level`. */
  leafFrames(level: number): number {
    return this.entryFrames[level];
  }

  /** Input frames the whole table covers. */
  get spanFrames(): number {
    return this.tableSpan[this.top];
  }

  /** Number of table nodes (root included) this engine allocated and still holds. */
  get tableCount(): number {
    return this.tables;
  }

  private entryWord(table: number, idx: number, write: boolean): [Uint32Array, number] {
    const frame = table + (idx >>> 9);
    const w = write ? this.mem.wordsForWrite(frame) : this.mem.wordsForRead(frame);
    return [w, this.mem.wordBase(frame) + ((idx & 511) << 1)];
  }

  private index(iova: number, level: number): number {
    // entryFrames and perTable are powers of two: the reciprocal is exact, and the index is the
    // floored quotient's low bits (`&` keeps them exactly while the mask fits 31 bits).
    const q = Math.floor(iova * this.invEntryFrames[level]);
    const n = this.perTable[level];
    return n <= 2 ** 31 ? q & (n - 1) : q % n;
  }

  private allocTable(level: number): number {
    const n = this.tableSize[level];
    const f = this.mem.allocFrames(n, n);
    this.tables++;
    return f;
  }

  private freeTable(frame: number, level: number): void {
    this.used.delete(frame);
    this.mem.freeFrames(frame, this.tableSize[level]);
    this.tables--;
  }

  private resetCache(): void {
    this.cacheFrame.fill(-1);
  }

  /**
   * Maps `frames` input frames from `iova` to the host frames `phys` gives, choosing at each
   * step the largest leaf that alignment and physical contiguity allow. All or nothing: if a
   * table allocation fails, every entry and table this call made is removed again.
   */
  map(iova: number, frames: number, phys: PhysRuns, prot: number): void {
    this.resetCache();
    this.freshTable = -1;
    const fmt = this.fmt;
    const mem = this.mem;
    let done = 0;
    let runTable = -1;
    let written = 0;
    try {
      while (done < frames) {
        let out = phys.frame(done);
        let at = iova + done;
        const level = this.chooseLevel(at, out, Math.min(phys.run(done), frames - done));
        const table = this.tableFor(at, level);
        const n = level === 0 ? this.leafSpan : this.entryFrames[level];
        const perTable = this.perTable[level];
        let idx = this.index(at, level);
        let frame = table + (idx >>> 9);
        let w = mem.wordsForWrite(frame);
        let base = mem.wordBase(frame);
        // Fill consecutive entries of this table while the same leaf size still fits.
        runTable = table;
        written = 0;
        if (n === 1 && phys.slots !== undefined) {
          // 4 KiB leaves from a frame table: its frames are read in place, without a call per page,
          // a run at a time up to the end of the table's frame, the table, the range or the slice.
          // A table this call allocated is all empty (zeroed): its entries need no EEXIST test.
          const fresh = table === this.freshTable;
          const outLimit = this.outLimit;
          let src = phys.slots(done);
          let s = phys.slotAt!;
          let left = phys.slotCount!;
          for (;;) {
            const m = Math.min(left, perTable - idx, frames - done, 512 - (idx & 511));
            let i = base + ((idx & 511) << 1);
            let k = 0;
            for (; k < m; k++, i += 2) {
              const f = src[s + k];
              if (f === 0 || f >= outLimit || (!fresh && (w[i] | w[i + 1]) !== 0)) break;
              fmt.setLeaf(w, i, 0, f, prot);
            }
            written += k;
            done += k;
            idx += k;
            s += k;
            left -= k;
            if (k < m) {
              // Entry k stopped the run: not populated (frame() raises it), beyond the output
              // range, or not all-zero (EEXIST unless the format decodes it as empty).
              out = src[s];
              if (out === 0) phys.frame(done);
              if (out >= outLimit) this.checkOutput(out, 1, 'host address');
              if (fmt.kind(w, i, 0) !== EntryKind.Empty) fail('EEXIST', `iova frame 0x${(iova + done).toString(16)} is already mapped`);
              fmt.setLeaf(w, i, 0, out, prot);
              written++;
              done++;
              idx++;
              s++;
              left--;
            }
            if (idx === perTable || done >= frames) break;
            if (left === 0) {
              src = phys.slots(done);
              s = phys.slotAt!;
              left = phys.slotCount!;
            }
            if ((idx & 511) === 0) {
              frame = table + (idx >>> 9);
              w = mem.wordsForWrite(frame);
              base = mem.wordBase(frame);
            }
          }
          this.used.add(table, written);
          runTable = -1;
          continue;
        }
        for (;;) {
          const i = base + ((idx & 511) << 1);
          // An all-zero entry is empty in every format (tables start as zeroed memory): only a
          // non-zero one needs decoding.
          if ((w[i] | w[i + 1]) !== 0 && fmt.kind(w, i, level) !== EntryKind.Empty) fail('EEXIST', `iova frame 0x${at.toString(16)} is already mapped`);
          if (out + n > this.outLimit) this.checkOutput(out, n, 'host address');
          fmt.setLeaf(w, i, level, out, prot);
          written++;
          done += n;
          if (++idx === perTable || done >= frames) break;
          out = phys.frame(done);
          at += n;
          if (level === 0 ? n > 1 && (out % n !== 0 || phys.run(done) < n) : this.chooseLevel(at, out, Math.min(phys.run(done), frames - done)) !== level) break;
          if ((idx & 511) === 0) {
            frame = table + (idx >>> 9);
            w = mem.wordsForWrite(frame);
            base = mem.wordBase(frame);
          }
        }
        this.used.add(table, written);
        runTable = -1;
      }
    } catch (e) {
      if (runTable >= 0) this.used.add(runTable, written);
      this.resetCache();
      // Take back the leaves this call wrote, then the tables a failing step may have built past
      // them and left empty; an entry that was there before (the one an EEXIST met) stays.
      this.unmapRange(iova, done, false);
      this.pruneRange(iova + done, Math.min(frames, done + this.entryFrames[this.top]) - done);
      throw e;
    }
  }

  /** The largest leaf level that alignment of `at` and `out` and a contiguous `run` allow. */
  private chooseLevel(at: number, out: number, run: number): number {
    for (let l = this.top; l > 0; l--) {
      const n = this.entryFrames[l];
      if (n <= run && this.fmt.leafAllowed(l) && at % n === 0 && out % n === 0) return l;
    }
    const n0 = this.entryFrames[0];
    if (n0 > 1 && (run < n0 || out % n0 !== 0)) {
      fail('EINVAL', `host memory at frame 0x${out.toString(16)} is not ${n0 * 4} KiB contiguous and aligned, as a ${n0 * 4} KiB page needs`);
    }
    return 0;
  }

  /** The table holding the level-`level` entry for `at`, creating tables on the way down. */
  private tableFor(at: number, level: number): number {
    const fmt = this.fmt;
    const cf = this.cacheFrame[level];
    const tableSpan = this.tableSpan[level];
    if (cf >= 0 && at >= this.cacheBase[level] && at < this.cacheBase[level] + tableSpan) return cf;
    let table = this.root;
    let l = this.top;
    while (l > level) {
      const idx = this.index(at, l);
      const [w, i] = this.entryWord(table, idx, true);
      const k = fmt.kind(w, i, l);
      let child: number;
      if (k === EntryKind.Empty) {
        child = this.allocTable(l - 1);
        this.freshTable = child;
        if (child + this.tableSize[l - 1] > this.outLimit) {
          this.freeTable(child, l - 1);
          this.checkOutput(child, this.tableSize[l - 1], 'table address');
        }
        const [w2, i2] = this.entryWord(table, idx, true);
        fmt.setTable(w2, i2, l, child);
        this.used.add(table, 1);
      } else if (k === EntryKind.Table) {
        child = fmt.outFrame(w, i, l);
      } else {
        fail('EEXIST', `iova frame 0x${at.toString(16)} is already inside a level-${l} leaf`);
      }
      table = child;
      l--;
      const span = this.tableSpan[l];
      this.cacheFrame[l] = table;
      this.cacheBase[l] = at - (at % span);
    }
    return table;
  }

  /** Removes the leaves in [iova, iova+frames), freeing tables that become empty. */
  unmap(iova: number, frames: number): void {
    this.resetCache();
    this.unmapRange(iova, frames, true);
  }

  private unmapRange(iova: number, frames: number, strict: boolean): void {
    if (frames <= 0) return;
    this.unmapIn(this.root, this.top, 0, iova, iova + frames, strict, false);
  }

  /** Frees the tables in the range that hold nothing, keeping every leaf. */
  private pruneRange(iova: number, frames: number): void {
    if (frames <= 0) return;
    this.unmapIn(this.root, this.top, 0, iova, iova + frames, false, true);
  }

  private unmapIn(table: number, level: number, base: number, lo: number, hi: number, strict: boolean, keepLeaves: boolean): void {
    const fmt = this.fmt;
    const mem = this.mem;
    const n = level === 0 ? this.leafSpan : this.entryFrames[level];
    const first = Math.floor((lo - base) / n);
    const last = Math.ceil((hi - base) / n);
    let w = mem.wordsForWrite(table + (first >>> 9));
    let wb = mem.wordBase(table + (first >>> 9));
    // Entries this call removed from `table`, counted once at the end (its count is only read
    // after this call returns).
    let removed = 0;
    try {
      for (let idx = first; idx < last; idx++) {
        if ((idx & 511) === 0 && idx !== first) {
          w = mem.wordsForWrite(table + (idx >>> 9));
          wb = mem.wordBase(table + (idx >>> 9));
        }
        const i = wb + ((idx & 511) << 1);
        if ((w[i] | w[i + 1]) === 0) continue; // all-zero: empty in every format
        const k = fmt.kind(w, i, level);
        if (k === EntryKind.Empty) continue;
        const eb = base + idx * n;
        const whole = lo <= eb && hi >= eb + n;
        if (k === EntryKind.Leaf) {
          if (keepLeaves) continue;
          if (!whole) {
            if (strict) fail('EINVAL', `unmap would cut a level-${level} leaf at iova frame 0x${eb.toString(16)}`);
            continue;
          }
          fmt.clear(w, i, level);
          removed++;
          continue;
        }
        const child = fmt.outFrame(w, i, level);
        if (whole && !keepLeaves) {
          this.freeSubtree(child, level - 1);
        } else {
          this.unmapIn(child, level - 1, eb, Math.max(lo, eb), Math.min(hi, eb + n), strict, keepLeaves);
          if (!this.isEmpty(child, level - 1)) continue;
          this.freeTable(child, level - 1);
        }
        removed++;
        // The recursion may have moved the memory's chunk cache: fetch this table's words again.
        w = mem.wordsForWrite(table + (idx >>> 9));
        wb = mem.wordBase(table + (idx >>> 9));
        fmt.clear(w, wb + ((idx & 511) << 1), level);
      }
    } finally {
      if (removed > 0) this.release(table, removed);
    }
  }

  private freeSubtree(table: number, level: number): void {
    if (level > 0) {
      const count = this.perTable[level];
      for (let idx = 0; idx < count; idx++) {
        const [w, i] = this.entryWord(table, idx, false);
        if (this.fmt.kind(w, i, level) === EntryKind.Table) this.freeSubtree(this.fmt.outFrame(w, i, level), level - 1);
      }
    }
    this.freeTable(table, level);
  }

  private release(table: number, entries: number): void {
    const n = this.used.get(table);
    if (n !== undefined) this.used.set(table, n - entries);
  }

  private isEmpty(table: number, level: number): boolean {
    const known = this.used.get(table);
    if (known !== undefined) return known <= 0;
    const count = this.perTable[level];
    const mem = this.mem;
    for (let f = 0; f * 512 < count; f++) {
      const w = mem.wordsForRead(table + f);
      const wb = mem.wordBase(table + f);
      const end = Math.min(512, count - f * 512);
      for (let e = 0; e < end; e++) if (this.fmt.kind(w, wb + (e << 1), level) !== EntryKind.Empty) return false;
    }
    return true;
  }

  /** Frees every table, root included. */
  destroy(): void {
    this.freeSubtree(this.root, this.top);
  }

  /** Decodes the translation of one input frame from memory (no side effect). */
  lookup(iova: number): Leaf | null {
    return ptWalk(this, iova);
  }

  /** Every level visited translating `iova`: entry address, raw value and decoded fields. */
  walk(iova: number): WalkStep[] {
    const steps: WalkStep[] = [];
    ptWalk(this, iova, steps);
    return steps;
  }

  /**
   * The whole tree as stored in memory, non-empty entries only (ptDump). With a `budget`, the
   * dump stops (and sets `budget.truncated`) once it has examined `budget.reads` entries or
   * reported `budget.entries`; without one it is complete.
   */
  dump(inputBase = 0n, budget?: DumpBudget): DumpTable {
    return ptDump(this, inputBase, budget);
  }
}
