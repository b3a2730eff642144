import type { FrameMemory } from '../memory/frame-memory.js';
import { EntryKind, entryHalves, entryShift, rawEntry, specLevelOf, type DecodedEntry, type PtFormat } from './format.js';

/**
 * The range iterator every page-table view is built on: it descends and ascends one radix tree of any format, in any memory (host memory,
 * or guest-physical memory seen through a stage-2 table), over an input range, within an entry
 * budget, and the one-path walk. The views built on them (LOOKUP, dump, leaf replay, dirty
 * harvesting, memory seen through a stage 2) are in views.ts.
 */

/** A radix table to read: its memory, its format and the first frame of its top-level table. A RadixPageTable is one. */
export interface PtTableRef {
  readonly mem: FrameMemory;
  readonly fmt: PtFormat;
  readonly root: number;
}

/** Where a translation ended: the output frame of the 4 KiB page asked for, and the leaf it came from. */
export interface Leaf {
  frame: number;
  level: number;
  perms: number;
  /** log2 of the leaf's size in bytes. */
  shift: number;
}

export interface WalkStep {
  /** Engine level (0 holds the smallest leaves). */
  level: number;
  /** The same level as the format's specification numbers it (PtFormat.specLevel). */
  specLevel: number;
  index: number;
  tableAddr: bigint;
  entryAddr: bigint;
  raw: bigint;
  decoded: DecodedEntry;
}

export interface DumpEntry {
  index: number;
  entryAddr: bigint;
  raw: bigint;
  decoded: DecodedEntry;
  /** Input address (byte) the entry starts at. */
  iova: bigint;
  child?: DumpTable;
  /** A leaf of a table in host memory that maps a kernel frame (not VMM memory) into the space. */
  kernel?: true;
}

export interface DumpTable {
  /** Level of the table's entries as the format's specification numbers it (PtFormat.specLevel). */
  level: number;
  /** Entries the table holds (in use or not), and the bytes of input each one covers. */
  slots?: number;
  span?: bigint;
  tableAddr: bigint;
  entries: DumpEntry[];
}

/**
 * A budget for reading a table someone else wrote (a guest's): a hostile table whose entries all
 * point back at the same pages fans out without end. `reads` counts every entry examined (empty
 * or not), `entries` every non-empty entry reported; both are decremented, and `truncated` is set
 * when an iteration stopped because one ran out. One budget may be shared by several iterations.
 */
export interface DumpBudget {
  reads: number;
  entries: number;
  truncated: boolean;
}

/** The shape of a format, per engine level, computed once per format object. */
export interface PtGeometry {
  readonly top: number;
  /** 4 KiB frames one entry covers, per level. */
  readonly span: readonly number[];
  /** Entries per table, per level. */
  readonly count: readonly number[];
  /** log2 of a leaf's size in bytes, per level. */
  readonly shift: readonly number[];
  /** PtFormat.specLevel of each level. */
  readonly spec: readonly number[];
  /** Input frames the whole table covers, and as address bits. */
  readonly frames: number;
  readonly inputBits: number;
}

const geometries = new WeakMap<PtFormat, PtGeometry>();

export function ptGeometry(fmt: PtFormat): PtGeometry {
  let g = geometries.get(fmt);
  if (g === undefined) {
    const span: number[] = [];
    const count: number[] = [];
    const shift: number[] = [];
    const spec: number[] = [];
    for (let l = 0; l < fmt.levels; l++) {
      shift.push(entryShift(fmt, l));
      span.push(2 ** (shift[l] - 12));
      count.push(2 ** fmt.levelBits(l));
      spec.push(specLevelOf(fmt, l));
    }
    const top = fmt.levels - 1;
    g = { top, span, count, shift, spec, frames: span[top] * count[top], inputBits: shift[top] + fmt.levelBits(top) };
    geometries.set(fmt, g);
  }
  return g;
}

const NO_WORDS = new Uint32Array(2);

/**
 * Iterates the non-empty entries of a table whose span meets the input range
 * [first, first + frames) (4 KiB frames relative to the table's input base), in address order,
 * one level at a time: `next()` moves to the next non-empty entry of the current table, climbing
 * back up when a table ends; after it returns an entry of kind Table, `descend()` enters the
 * table it points at. With a `budget`, every entry examined costs a read and every entry reported
 * an entry; when one runs out the iteration stops and sets `truncated` (on the budget too).
 */
export class PtIter {
  /** The entry `next()` returned: engine level, index in its table, table's first frame, kind. */
  level = -1;
  index = 0;
  table = 0;
  kind: EntryKind = EntryKind.Empty;
  /** First input frame the entry covers. */
  frame = 0;
  /** The entry's storage array and the index of its first word in it. */
  w: Uint32Array = NO_WORDS;
  i = 0;
  truncated = false;
  /** The run `nextLeafRun()` returned: words, word index of the frame's entry 0, entries [runFrom, runTo) of that frame, input frame of its entry 0. */
  runW: Uint32Array = NO_WORDS;
  runI = 0;
  runFrom = 0;
  runTo = 0;
  runFrame = 0;
  private runTable = 0;
  readonly geometry: PtGeometry;
  private readonly lo: number;
  private readonly hi: number;
  private readonly tables: number[] = [];
  private readonly bases: number[] = [];
  private readonly pos: number[] = [];
  private readonly end: number[] = [];
  private cur: number;

  constructor(
    readonly ref: PtTableRef,
    first = 0,
    frames = Number.POSITIVE_INFINITY,
    readonly budget?: DumpBudget,
  ) {
    const g = (this.geometry = ptGeometry(ref.fmt));
    this.lo = Math.max(0, first);
    this.hi = Math.min(g.frames, first + frames);
    this.cur = g.top;
    this.enter(g.top, ref.root, 0);
    if (this.hi <= this.lo) this.pos[g.top] = this.end[g.top];
  }

  private enter(level: number, table: number, base: number): void {
    const span = this.geometry.span[level];
    this.tables[level] = table;
    this.bases[level] = base;
    this.pos[level] = this.lo > base ? Math.floor((this.lo - base) / span) : 0;
    this.end[level] = Math.min(this.geometry.count[level], Math.ceil((this.hi - base) / span));
    this.cur = level;
  }

  /** Moves to the next non-empty entry in range; false when there is none (or the budget ran out). */
  next(): boolean {
    const { mem, fmt } = this.ref;
    const budget = this.budget;
    const top = this.geometry.top;
    for (;;) {
      const l = this.cur;
      if (this.pos[l] >= this.end[l]) {
        if (l === top) return this.stop();
        this.cur = l + 1;
        continue;
      }
      if (budget !== undefined) {
        if (budget.reads <= 0 || budget.entries <= 0) {
          budget.truncated = true;
          this.truncated = true;
          return this.stop();
        }
        budget.reads--;
      }
      const idx = this.pos[l]++;
      const table = this.tables[l];
      const frame = table + (idx >>> 9);
      const w = mem.wordsForRead(frame);
      const i = mem.wordBase(frame) + ((idx & 511) << 1);
      const k = fmt.kind(w, i, l);
      if (k === EntryKind.Empty) continue;
      if (budget !== undefined) budget.entries--;
      this.level = l;
      this.index = idx;
      this.table = table;
      this.kind = k;
      this.w = w;
      this.i = i;
      this.frame = this.bases[l] + idx * this.geometry.span[l];
      return true;
    }
  }

  /**
   * For bulk scans of leaves: when the iteration is inside a level-0 table (and has no budget),
   * the rest of the current 4 KiB frame of that table as one run of entries (runW, runI, runFrom,
   * runTo, runFrame), moving past it; false otherwise (then `next()` goes on as usual). Entries of
   * a run may be empty: the caller checks `fmt.kind` where it matters.
   */
  nextLeafRun(): boolean {
    if (this.cur !== 0 || this.budget !== undefined) return false;
    const p = this.pos[0];
    const e = this.end[0];
    if (p >= e) return false;
    const page = p >>> 9;
    const stop = Math.min(e, (page + 1) << 9);
    const frame = this.tables[0] + page;
    const mem = this.ref.mem;
    this.runTable = frame;
    this.runW = mem.wordsForRead(frame);
    this.runI = mem.wordBase(frame);
    this.runFrom = p & 511;
    this.runTo = stop - (page << 9);
    this.runFrame = this.bases[0] + (page << 9) * this.geometry.span[0];
    this.pos[0] = stop;
    return true;
  }

  /** Entry k of the current run's frame, for writing. */
  runWritable(k: number): [Uint32Array, number] {
    const mem = this.ref.mem;
    return [mem.wordsForWrite(this.runTable), mem.wordBase(this.runTable) + (k << 1)];
  }

  private stop(): false {
    const top = this.geometry.top;
    this.cur = top;
    this.pos[top] = this.end[top];
    this.level = -1;
    return false;
  }

  /** Enters the table the current (Table, level > 0) entry points at; its first frame, or -1 if there is none to enter. */
  descend(): number {
    const l = this.level;
    if (l <= 0 || this.kind !== EntryKind.Table) return -1;
    const child = this.ref.fmt.outFrame(this.w, this.i, l);
    this.enter(l - 1, child, this.frame);
    return child;
  }

  get specLevel(): number {
    return this.geometry.spec[this.level];
  }

  /** 4 KiB frames the current entry covers. */
  get frames(): number {
    return this.geometry.span[this.level];
  }

  get tableAddr(): bigint {
    return BigInt(this.table) * 4096n;
  }

  get entryAddr(): bigint {
    return BigInt(this.table) * 4096n + BigInt(this.index * 8);
  }

  raw(): bigint {
    return rawEntry(this.ref.fmt, this.w, this.i);
  }

  decode(): DecodedEntry {
    const [lo, hi] = entryHalves(this.ref.fmt, this.w, this.i);
    return this.ref.fmt.decode(lo, hi, this.level);
  }

  outFrame(): number {
    return this.ref.fmt.outFrame(this.w, this.i, this.level);
  }

  perms(): number {
    return this.ref.fmt.perms(this.w, this.i, this.level);
  }

  /** The current entry's words for writing (harvesting with `clear`). */
  writable(): [Uint32Array, number] {
    const frame = this.table + (this.index >>> 9);
    const mem = this.ref.mem;
    return [mem.wordsForWrite(frame), mem.wordBase(frame) + ((this.index & 511) << 1)];
  }
}

/**
 * The one path a translation of input frame `frame` takes, top level down, decoded from memory
 * (no side effect): the leaf, or null; with `steps`, every entry read is pushed there. An index
 * beyond the top table wraps, as the engine's does: callers check the input width first.
 */
export function ptWalk(ref: PtTableRef, frame: number, steps?: WalkStep[]): Leaf | null {
  const { mem, fmt } = ref;
  const g = ptGeometry(fmt);
  let table = ref.root;
  for (let l = g.top; l >= 0; l--) {
    const idx = Math.floor(frame / g.span[l]) % g.count[l];
    const f = table + (idx >>> 9);
    const w = mem.wordsForRead(f);
    const i = mem.wordBase(f) + ((idx & 511) << 1);
    const k = fmt.kind(w, i, l);
    if (steps !== undefined) {
      const [lo, hi] = entryHalves(fmt, w, i);
      const tableAddr = BigInt(table) * 4096n;
      steps.push({ level: l, specLevel: g.spec[l], index: idx, tableAddr, entryAddr: tableAddr + BigInt(idx * 8), raw: rawEntry(fmt, w, i), decoded: fmt.decode(lo, hi, l) });
    }
    if (k === EntryKind.Leaf) return { frame: fmt.outFrame(w, i, l) + (frame % g.span[l]), level: l, perms: fmt.perms(w, i, l), shift: g.shift[l] };
    if (k === EntryKind.Empty || l === 0) return null;
    table = fmt.outFrame(w, i, l);
  }
  return null;
}
