import { fail } from '../base/errors.js';
import type { FrameMemory } from '../memory/frame-memory.js';
import { EntryKind, PROT_READ, PROT_WRITE, type DecodedEntry, type PtFormat } from './format.js';
import type { DirtyLog } from './dirty-log.js';
import { PtIter, ptGeometry, ptWalk, type DumpBudget, type DumpEntry, type DumpTable, type PtTableRef, type WalkStep } from './iter.js';

/**
 * The views every vendor builds its DUMP, LOOKUP, shadows and guest-table decoding on, all
 * clients of the range iterator (iter.ts): they read memory only, except dirty harvesting with
 * `clear`. Vendor decoration (titles, context records, stage labels, fault names) stays in the
 * vendors.
 */

/**
 * One entry LOOKUP read, as a person reads it: the level is the specification's own
 * (PtFormat.specLevel), the only numbering views show.
 */
export interface PtLookupStep {
  level: number;
  index: number;
  tableAddr: bigint;
  entryAddr: bigint;
  raw: bigint;
  decoded: DecodedEntry;
  /** Which table the step belongs to, when the caller names it ('second-level', 'stage-1'…). */
  stage?: string;
}

/** A walk step as views show it: the specification's level only. */
export function lookupStep(s: WalkStep, stage?: string): PtLookupStep {
  const v: PtLookupStep = { level: s.specLevel, index: s.index, tableAddr: s.tableAddr, entryAddr: s.entryAddr, raw: s.raw, decoded: s.decoded };
  if (stage !== undefined) v.stage = stage;
  return v;
}

/** LOOKUP through one table (core's LookupView has this shape). */
export interface PtLookupView {
  iova: bigint;
  steps: PtLookupStep[];
  output: bigint | null;
  perms?: { read: boolean; write: boolean };
  pageSize?: bigint;
  fault?: string;
}

export interface PtLookupOptions {
  /** Label put on every step. */
  stage?: string;
  /** Input address of the table's first entry (a POWER DDW's bus address). */
  inputBase?: bigint;
  /** With it, an address outside the table's input width is not walked: this names the fault. */
  beyond?: (inputBits: number) => string;
  /** Names the fault when the walk ends without a leaf (`last` is the last step). */
  unmapped?: (last: PtLookupStep | undefined) => string;
}

/**
 * LOOKUP of `iova` through one table, decoded from memory: each level's entry, and
 * the output when the walk ends on an entry that is, and decodes as, a leaf.
 */
export function ptLookupView(ref: PtTableRef, iova: bigint, opts: PtLookupOptions = {}): PtLookupView {
  const rel = iova - (opts.inputBase ?? 0n);
  if (opts.beyond !== undefined) {
    const bits = ptGeometry(ref.fmt).inputBits;
    if (rel < 0n || rel >> BigInt(bits) !== 0n) return { iova, steps: [], output: null, fault: opts.beyond(bits) };
  }
  const walked: WalkStep[] = [];
  const leaf = ptWalk(ref, Number(rel >> 12n), walked);
  const steps = walked.map((s) => lookupStep(s, opts.stage));
  const last = steps[steps.length - 1];
  if (leaf === null || last.decoded.kind !== 'leaf') return { iova, steps, output: null, fault: opts.unmapped ? opts.unmapped(last) : 'not mapped' };
  return {
    iova,
    steps,
    output: (BigInt(leaf.frame) << 12n) | (iova & 0xfffn),
    perms: { read: (leaf.perms & PROT_READ) !== 0, write: (leaf.perms & PROT_WRITE) !== 0 },
    pageSize: 1n << BigInt(leaf.shift),
  };
}

/**
 * The tree as stored in memory, non-empty entries only, input addresses from `inputBase`. With a
 * `budget`, the dump stops (and sets `budget.truncated`) once it has examined `budget.reads`
 * entries or reported `budget.entries`; without one it is complete.
 */
export function ptDump(ref: PtTableRef, inputBase = 0n, budget?: DumpBudget): DumpTable {
  const it = new PtIter(ref, 0, Number.POSITIVE_INFINITY, budget);
  const g = it.geometry;
  const kernelFrame = ref.mem.isKernelFrame;
  const root: DumpTable = { level: g.spec[g.top], slots: g.count[g.top], span: 1n << BigInt(g.shift[g.top]), tableAddr: BigInt(ref.root) * 4096n, entries: [] };
  // The table being filled at each level: the iteration is depth first, so it is the last one entered.
  const open: DumpTable[] = [];
  open[g.top] = root;
  while (it.next()) {
    const l = it.level;
    const e: DumpEntry = { index: it.index, entryAddr: it.entryAddr, raw: it.raw(), decoded: it.decode(), iova: inputBase + BigInt(it.frame) * 4096n };
    if (kernelFrame !== undefined && it.kind === EntryKind.Leaf && kernelFrame.call(ref.mem, it.outFrame())) e.kernel = true;
    open[l].entries.push(e);
    if (l > 0 && it.kind === EntryKind.Table) {
      const child = it.descend();
      e.child = open[l - 1] = { level: g.spec[l - 1], slots: g.count[l - 1], span: 1n << BigInt(g.shift[l - 1]), tableAddr: BigInt(child) * 4096n, entries: [] };
    }
  }
  return root;
}

/** ptDump within fresh limits; `truncated` says whether it stopped early. */
export function ptDumpBounded(ref: PtTableRef, limits: { reads: number; entries: number }, inputBase = 0n): { root: DumpTable; truncated: boolean } {
  const budget: DumpBudget = { reads: limits.reads, entries: limits.entries, truncated: false };
  const root = ptDump(ref, inputBase, budget);
  return { root, truncated: budget.truncated };
}

/** One leaf met by ptLeaves: input frame and size (4 KiB frames), output frame, PROT_* and engine level. */
export interface PtLeaf {
  frame: number;
  frames: number;
  out: number;
  perms: number;
  level: number;
}

/**
 * Visits every leaf whose span meets [first, first + frames), in input order (replaying a table
 * into another, as a shadow is rebuilt). A leaf reaching outside the range is visited whole.
 * Returns whether the budget stopped it early.
 */
export function ptLeaves(ref: PtTableRef, visit: (leaf: PtLeaf) => void, first = 0, frames = Number.POSITIVE_INFINITY, budget?: DumpBudget): boolean {
  const it = new PtIter(ref, first, frames, budget);
  while (it.next()) {
    if (it.kind === EntryKind.Table) it.descend();
    else visit({ frame: it.frame, frames: it.frames, out: it.outFrame(), perms: it.perms(), level: it.level });
  }
  return it.truncated;
}

/**
 * Calls `rewrite` with the writable words of every leaf of the table, in address order: the
 * kernel updating its own leaves in place (arming or disarming dirty logging, say). `rewrite`
 * changes only bits the walk does not depend on (not the kind, not the output address).
 */
export function ptRewriteLeaves(ref: PtTableRef, rewrite: (w: Uint32Array, i: number, level: number) => void): void {
  const it = new PtIter(ref, 0, Number.POSITIVE_INFINITY);
  while (it.next()) {
    if (it.kind === EntryKind.Table) {
      it.descend();
      continue;
    }
    const [w, i] = it.writable();
    rewrite(w, i, it.level);
  }
}

export interface HarvestOptions {
  /** Clear each dirty bit reported (read_and_clear_dirty without IOMMU_DIRTY_NO_CLEAR). */
  clear?: boolean;
  /** Input frame of the table's first entry (frames the log's range is counted in). */
  inputFrame?: number;
  budget?: DumpBudget;
}

/**
 * Dirty harvesting (generic_pt's read_and_clear_dirty): visits the leaves whose span meets the
 * log's range and marks in `log`, in address order, each one whose dirty bit is set, as the whole
 * range the leaf covers (the bit is per leaf); with `clear`, the bit is cleared in memory. The
 * caller flushes the IOTLB afterwards. Level-0 tables are scanned a frame at a time without
 * decoding entries that are clean. EOPNOTSUPP for a format without dirty tracking.
 */
export function ptHarvestDirty(ref: PtTableRef, log: DirtyLog, opts: HarvestOptions = {}): { truncated: boolean } {
  const fmt = ref.fmt;
  if (fmt.dirty === undefined || (opts.clear === true && fmt.clearDirty === undefined)) fail('EOPNOTSUPP', `${fmt.name} entries do not track dirty pages`);
  const base = opts.inputFrame ?? 0;
  const clear = opts.clear === true;
  const it = new PtIter(ref, log.first - base, log.frames, opts.budget);
  const span0 = it.geometry.span[0];
  // The low word's pattern, where the format states one, is tested inline over whole leaf tables
  // (false for nearly every entry); the format's own test and kind() (not empty) then decide.
  const p = fmt.dirtyPattern;
  const loMask = p ? p.loMask | 0 : 0;
  const loValue = p ? p.loValue | 0 : 0;
  for (;;) {
    if (it.nextLeafRun()) {
      const w = it.runW;
      const i0 = it.runI;
      const to = it.runTo;
      if (p !== undefined) {
        for (let k = it.runFrom; k < to; k++) if ((w[i0 + (k << 1)] & loMask) === loValue) harvestLeaf(fmt, it, log, base, span0, clear, k);
      } else {
        for (let k = it.runFrom; k < to; k++) harvestLeaf(fmt, it, log, base, span0, clear, k);
      }
      continue;
    }
    if (!it.next()) break;
    if (it.kind === EntryKind.Table) {
      it.descend();
      continue;
    }
    if (!fmt.dirty!(it.w, it.i, it.level)) continue;
    log.mark(base + it.frame, it.frames);
    if (clear) {
      const [w, i] = it.writable();
      fmt.clearDirty!(w, i, it.level);
    }
  }
  return { truncated: it.truncated };
}

/** Entry k of the iterator's current leaf run: marked (and cleared) when dirty. */
function harvestLeaf(fmt: PtFormat, it: PtIter, log: DirtyLog, base: number, span0: number, clear: boolean, k: number): void {
  const w = it.runW;
  const i = it.runI + (k << 1);
  if (!fmt.dirty!(w, i, 0) || fmt.kind(w, i, 0) !== EntryKind.Leaf) return;
  log.mark(base + it.runFrame + k * span0, span0);
  if (clear) {
    const [ww, wi] = it.runWritable(k);
    fmt.clearDirty!(ww, wi, 0);
  }
}

const ZERO_FRAME = new Uint32Array(1024);

/**
 * Memory translated through a stage-2 table: guest-physical frames → host frames by
 * decoding a second-level / stage-2 radix table from memory, read-only, so that a guest's tables
 * (first level, stage 1, CD tables) can be decoded as the unit would fetch them. A table fetch is
 * a read: a frame the stage 2 does not map for reading, or at or beyond its input width (where
 * the unit faults instead of wrapping the index), reads as zeros, as a debugger shows it; a
 * walker asks `frameMapped` / `rangeMapped` first and reports its own fault. Nothing is cached
 * but the last frame translated (`invalidate` forgets it after the stage 2 changed).
 */
export class Stage2Memory implements FrameMemory {
  private lastGfn = -1;
  private lastHost = -1;
  /** First guest frame the stage 2 cannot translate. */
  private readonly limit: number;

  constructor(
    private readonly host: FrameMemory,
    private readonly stage2: PtTableRef,
  ) {
    this.limit = ptGeometry(stage2.fmt).frames;
  }

  /** Host frame behind guest frame `gfn`, or -1 when the stage 2 does not map it readable. */
  hostFrame(gfn: number): number {
    if (gfn !== this.lastGfn) {
      const leaf = gfn >= 0 && gfn < this.limit ? ptWalk(this.stage2, gfn) : null;
      this.lastGfn = gfn;
      this.lastHost = leaf !== null && (leaf.perms & PROT_READ) !== 0 ? leaf.frame : -1;
    }
    return this.lastHost;
  }

  /** Whether guest frame `gfn` is mapped readable (a table there is fetched, not a fault). */
  frameMapped(gfn: number): boolean {
    return this.hostFrame(gfn) >= 0;
  }

  /** Whether every frame of [gpa, gpa + bytes) is mapped readable. */
  rangeMapped(gpa: number, bytes: number): boolean {
    for (let g = Math.floor(gpa / 4096); g * 4096 < gpa + bytes; g++) if (this.hostFrame(g) < 0) return false;
    return true;
  }

  /** The 32-bit word at a 4-byte aligned guest-physical address, as the CPU stores it (0 when unmapped). */
  u32(gpa: number): number {
    const gfn = Math.floor(gpa / 4096);
    return this.wordsForRead(gfn)[this.wordBase(gfn) + (gpa % 4096) / 4];
  }

  /** `count` words from a 4-byte aligned guest-physical address. */
  readWords(gpa: number, count: number): Uint32Array {
    const out = new Uint32Array(count);
    for (let k = 0; k < count; k++) out[k] = this.u32(gpa + 4 * k);
    return out;
  }

  /** Forgets the last translation (after the stage 2 changed). */
  invalidate(): void {
    this.lastGfn = -1;
  }

  wordsForRead(gfn: number): Uint32Array {
    const h = this.hostFrame(gfn);
    return h < 0 ? ZERO_FRAME : this.host.wordsForRead(h);
  }

  wordBase(gfn: number): number {
    const h = this.hostFrame(gfn);
    return h < 0 ? 0 : this.host.wordBase(h);
  }

  wordsForWrite(): Uint32Array {
    fail('EPERM', 'memory seen through a stage-2 table is read-only');
  }

  allocFrames(): number {
    fail('EPERM', 'memory seen through a stage-2 table cannot allocate');
  }

  freeFrames(): void {
    fail('EPERM', 'memory seen through a stage-2 table cannot free');
  }
}
