import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  AllocInjector,
  EntryKind,
  HostMemory,
  IoasidError,
  PROT_READ,
  PROT_WRITE,
  PtIter,
  RadixPageTable,
  Stage2Memory,
  contiguousRuns,
  entryHalves,
  ptDump,
  DirtyLog,
  dirtyBits,
  ptHarvestDirty,
  ptRewriteLeaves,
  ptLeaves,
  ptLookupView,
  ptWalk,
  rawEntry,
  type DumpBudget,
  type DumpTable,
  type FrameMemory,
  type PtFormat,
  type PtLeaf,
  type PtTableRef,
  type WalkStep,
} from '../src/index.js';
import { MOCK_DIRTY, mockFormat } from './mock-format.js';

const host = () => new HostMemory(new AllocInjector());

/** The dump as RadixPageTable.dump wrote it before it became a client of the iterator: the oracle. */
function referenceDump(ref: PtTableRef, table: number, level: number, base: bigint, budget?: DumpBudget): DumpTable {
  const { mem, fmt } = ref;
  const entries: DumpTable['entries'] = [];
  let span = 1n;
  for (let l = 0; l < level; l++) span *= 2n ** BigInt(fmt.levelBits(l));
  span *= 4096n;
  for (let idx = 0; idx < 2 ** fmt.levelBits(level); idx++) {
    if (budget !== undefined) {
      if (budget.reads <= 0 || budget.entries <= 0) {
        budget.truncated = true;
        break;
      }
      budget.reads--;
    }
    const f = table + (idx >>> 9);
    const w = mem.wordsForRead(f);
    const i = mem.wordBase(f) + ((idx & 511) << 1);
    const k = fmt.kind(w, i, level);
    if (k === EntryKind.Empty) continue;
    if (budget !== undefined) budget.entries--;
    const [lo, hi] = entryHalves(fmt, w, i);
    const e: DumpTable['entries'][number] = { index: idx, entryAddr: BigInt(table) * 4096n + BigInt(idx * 8), raw: rawEntry(fmt, w, i), decoded: fmt.decode(lo, hi, level), iova: base + BigInt(idx) * span };
    if (k === EntryKind.Table && level > 0) e.child = referenceDump(ref, fmt.outFrame(w, i, level), level - 1, e.iova, budget);
    entries.push(e);
  }
  return { level, slots: 2 ** fmt.levelBits(level), span, tableAddr: BigInt(table) * 4096n, entries };
}

/** A table whose every top entry points back at the top table: read as a tree it fans out to 512^levels leaves. */
function selfReferencing(mem: HostMemory, fmt: PtFormat): RadixPageTable {
  const root = mem.allocFrame();
  const w = mem.wordsForWrite(root);
  for (let idx = 0; idx < 512; idx++) fmt.setTable(w, mem.wordBase(root) + idx * 2, fmt.levels - 1, root);
  return RadixPageTable.view(mem, fmt, root);
}

/** Maps `ops` (non-overlapping ones only) and returns what was mapped: input frame → output frame. */
function mapAll(pt: RadixPageTable, ops: { start: number; len: number; huge: boolean }[]): Map<number, number> {
  const ref = new Map<number, number>();
  for (const op of ops) {
    if ([...Array(op.len).keys()].some((k) => ref.has(op.start + k))) continue;
    const runs = op.huge ? contiguousRuns(0x100000 + op.start, op.len) : { frame: (i: number) => 0x4000000 - op.start * 2 - i, run: () => 1 };
    pt.map(op.start, op.len, runs, op.huge ? PROT_READ : PROT_READ | PROT_WRITE);
    for (let i = 0; i < op.len; i++) ref.set(op.start + i, runs.frame(i));
  }
  return ref;
}

const opsArb = fc.array(fc.record({ start: fc.integer({ min: 0, max: 3000 }), len: fc.integer({ min: 1, max: 700 }), huge: fc.boolean() }), { maxLength: 8 });

describe('page-table range iterator', () => {
  it('visits exactly the non-empty entries whose span meets the range, in address order, descending and ascending (property)', () => {
    fc.assert(
      fc.property(opsArb, fc.integer({ min: 0, max: 4000 }), fc.integer({ min: 0, max: 1500 }), (ops, first, frames) => {
        const mem = host();
        const pt = RadixPageTable.create(mem, mockFormat());
        const mapped = mapAll(pt, ops);
        const leaves: PtLeaf[] = [];
        const it = new PtIter(pt, first, frames);
        let lastFrame = -1;
        while (it.next()) {
          expect(it.frame + it.frames).toBeGreaterThan(first);
          expect(it.frame).toBeLessThan(first + frames);
          if (it.kind === EntryKind.Table) {
            expect(it.descend()).toBeGreaterThanOrEqual(0);
            continue;
          }
          expect(it.frame).toBeGreaterThan(lastFrame);
          lastFrame = it.frame;
          leaves.push({ frame: it.frame, frames: it.frames, out: it.outFrame(), perms: it.perms(), level: it.level });
        }
        expect(it.truncated).toBe(false);
        // Every mapped frame in the range is covered by exactly one leaf visited, with its output.
        const seen = new Map<number, number>();
        for (const l of leaves) for (let k = 0; k < l.frames; k++) seen.set(l.frame + k, l.out + k);
        for (const [f, out] of mapped) if (f >= first && f < first + frames) expect(seen.get(f)).toBe(out);
        for (const f of seen.keys()) expect(mapped.has(f)).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it('dumps exactly what the recursive dump did, budget and truncation included (property)', () => {
    fc.assert(
      fc.property(opsArb, fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 40 }), (ops, reads, entries) => {
        const mem = host();
        const pt = RadixPageTable.create(mem, mockFormat());
        mapAll(pt, ops);
        expect(ptDump(pt, 0x1000n)).toEqual(referenceDump(pt, pt.root, 2, 0x1000n));
        const a: DumpBudget = { reads, entries, truncated: false };
        const b: DumpBudget = { ...a };
        expect(pt.dump(0n, a)).toEqual(referenceDump(pt, pt.root, 2, 0n, b));
        expect(a).toEqual(b);
      }),
      { numRuns: 40 },
    );
  });

  it('stops a self-referencing table at its budget, says so, and leaves nothing for a dump sharing the budget', () => {
    const mem = host();
    const t = selfReferencing(mem, mockFormat());
    const budget: DumpBudget = { reads: 5000, entries: 1 << 20, truncated: false };
    const d = ptDump(t, 0n, budget);
    expect(budget).toEqual({ reads: 0, entries: (1 << 20) - 5000, truncated: true });
    let n = 0;
    const count = (x: DumpTable): void => {
      for (const e of x.entries) {
        n++;
        if (e.child) count(e.child);
      }
    };
    count(d);
    expect(n).toBe(5000);
    // The entries budget stops it the same way, and a second dump on the spent budget reads nothing.
    const few: DumpBudget = { reads: 1 << 20, entries: 10, truncated: false };
    expect(ptLeaves(t, () => {}, 0, Number.POSITIVE_INFINITY, few)).toBe(true);
    expect(ptDump(t, 0n, few).entries).toEqual([]);
    expect(few.truncated).toBe(true);
    // Without a budget a range iteration is bounded by its range alone: 512 leaves under the first 2 MiB.
    let leaves = 0;
    expect(ptLeaves(t, () => leaves++, 0, 512)).toBe(false);
    expect(leaves).toBe(512);
  });

  it('walks one path with the spec level numbers of the format, and LOOKUP names the fault where the walk ends', () => {
    const mem = host();
    const fmt: PtFormat = { ...mockFormat(), specLevel: (l) => l + 1 };
    const pt = RadixPageTable.create(mem, fmt);
    pt.map(512, 512, contiguousRuns(0x40000, 512), PROT_READ);
    pt.map(0x10, 1, contiguousRuns(0x9000, 1), PROT_READ | PROT_WRITE);
    const steps: WalkStep[] = [];
    expect(ptWalk(pt, 0x10, steps)).toEqual({ frame: 0x9000, level: 0, perms: 3, shift: 12 });
    expect(steps.map((s) => [s.level, s.specLevel])).toEqual([[2, 3], [1, 2], [0, 1]]);
    expect(pt.walk(0x10)).toEqual(steps);
    const v = ptLookupView(pt, (512n + 7n) * 4096n + 0x123n, { stage: 'mock' });
    expect(v).toMatchObject({ output: 0x40007123n, perms: { read: true, write: false }, pageSize: 2n << 20n });
    expect(v.steps.map((s) => [s.level, s.stage])).toEqual([[3, 'mock'], [2, 'mock']]);
    expect(v.steps[0]).not.toHaveProperty('specLevel');
    expect(ptLookupView(pt, 0x11000n, { unmapped: (last) => `empty at ${last!.level}` })).toMatchObject({ output: null, fault: 'empty at 1' });
    expect(ptLookupView(pt, 1n << 39n, { beyond: (bits) => `beyond ${bits}` })).toEqual({ iova: 1n << 39n, steps: [], output: null, fault: 'beyond 39' });
    expect(ptLookupView(pt, 0x7000n + 0x10000n, { inputBase: 0x7000n })).toMatchObject({ output: 0x9000000n });
    const d = ptDump(pt);
    expect([d.level, d.entries[0].child!.level]).toEqual([3, 2]);
    expect(d).not.toHaveProperty('specLevel');
  });
});

/** Guest-physical memory for building a guest's table: guest frame g is host frame g - offset. */
class OffsetMemory implements FrameMemory {
  readonly frames: number[] = [];
  constructor(
    private readonly host: HostMemory,
    private readonly offset: number,
  ) {}
  wordsForRead(g: number): Uint32Array {
    return this.host.wordsForRead(g - this.offset);
  }
  wordsForWrite(g: number): Uint32Array {
    return this.host.wordsForWrite(g - this.offset);
  }
  wordBase(g: number): number {
    return this.host.wordBase(g - this.offset);
  }
  allocFrames(count: number, align: number): number {
    const h = this.host.allocFrames(count, align);
    for (let k = 0; k < count; k++) this.frames.push(h + k + this.offset);
    return h + this.offset;
  }
  freeFrames(g: number, count: number): void {
    this.host.freeFrames(g - this.offset, count);
  }
}

describe('memory translated through a stage-2 table', () => {
  function nested() {
    const mem = host();
    const offset = 0x80000;
    const gmem = new OffsetMemory(mem, offset);
    const guest = RadixPageTable.create(gmem, mockFormat());
    guest.map(0, 3, { frame: (i) => 0x7000 + i, run: () => 1 }, PROT_READ | PROT_WRITE);
    guest.map(1024, 512, contiguousRuns(0x20000, 512), PROT_READ);
    const s2 = RadixPageTable.create(mem, mockFormat());
    for (const g of gmem.frames) s2.map(g, 1, contiguousRuns(g - offset, 1), PROT_READ);
    return { mem, gmem, guest, s2, view: new Stage2Memory(mem, s2) };
  }

  it('decodes a guest table through the stage 2 exactly as it reads in guest-physical memory', () => {
    const { guest, view } = nested();
    const through = RadixPageTable.view(view, guest.fmt, guest.root);
    expect(ptDump(through)).toEqual(ptDump(guest));
    for (const f of [0, 1, 2, 3, 1024, 1535, 1536]) expect(ptLookupView(through, BigInt(f) * 4096n)).toEqual(ptLookupView(guest, BigInt(f) * 4096n));
    expect(view.frameMapped(guest.root)).toBe(true);
    expect(view.rangeMapped(guest.root * 4096, 4096)).toBe(true);
    expect(view.readWords(guest.root * 4096, 2)).toEqual(guest.mem.wordsForRead(guest.root).slice(guest.mem.wordBase(guest.root), guest.mem.wordBase(guest.root) + 2));
  });

  it('reads a frame the stage 2 does not map readable, or beyond its input, as zeros; a walker sees it unmapped; writes are refused', () => {
    const { gmem, guest, s2, view } = nested();
    const leafTable = gmem.frames[gmem.frames.length - 1];
    s2.unmap(leafTable, 1);
    s2.map(leafTable, 1, contiguousRuns(leafTable - 0x80000, 1), PROT_WRITE); // write-only: a table fetch is a read
    view.invalidate();
    expect(view.hostFrame(leafTable)).toBe(-1);
    expect(view.frameMapped(leafTable)).toBe(false);
    expect(view.rangeMapped(leafTable * 4096 - 8, 16)).toBe(false);
    expect(view.u32(leafTable * 4096)).toBe(0);
    expect(view.hostFrame(2 ** 27)).toBe(-1); // beyond the 39-bit input of the stage 2: not wrapped
    const through = RadixPageTable.view(view, guest.fmt, guest.root);
    expect(through.lookup(1)).toBeNull();
    expect(through.lookup(1024)).toEqual(guest.lookup(1024));
    expect(() => view.wordsForWrite()).toThrow(IoasidError);
    expect(() => view.allocFrames()).toThrow(IoasidError);
  });
});

describe('leaf replay and dirty harvesting', () => {
  it('replays every leaf in order into a copy that translates every frame as the original (property)', () => {
    fc.assert(
      fc.property(opsArb, (ops) => {
        const mem = host();
        const pt = RadixPageTable.create(mem, mockFormat());
        const mapped = mapAll(pt, ops);
        const copy = RadixPageTable.create(mem, mockFormat());
        let covered = 0;
        let next = -1;
        ptLeaves(pt, (l) => {
          expect(l.frame).toBeGreaterThan(next);
          next = l.frame;
          covered += l.frames;
          copy.map(l.frame, l.frames, contiguousRuns(l.out, l.frames), l.perms);
        });
        expect(covered).toBe(mapped.size);
        for (let f = 0; f < 4000; f += 7) expect(copy.lookup(f)).toEqual(pt.lookup(f));
      }),
      { numRuns: 20 },
    );
  });

  function dirtyTable() {
    const mem = host();
    const fmt = mockFormat();
    const pt = RadixPageTable.create(mem, fmt);
    pt.map(0, 8, { frame: (i) => 0x7000 + i, run: () => 1 }, PROT_READ | PROT_WRITE);
    pt.map(512, 512, contiguousRuns(0x40000, 512), PROT_READ | PROT_WRITE);
    // The hardware sets D on a write through a leaf: pages 1 and 5, and the 2 MiB leaf.
    for (const f of [1, 5, 512]) {
      const it = new PtIter(pt, f, 1);
      while (it.next()) if (it.kind === EntryKind.Table) it.descend();
      else {
        const [w, i] = it.writable();
        w[i] |= MOCK_DIRTY;
      }
    }
    return { mem, fmt, pt };
  }

  /** The harvest of frames [first, first + frames) as merged byte runs. */
  function harvest(pt: RadixPageTable, first: number, frames: number, opts: { clear?: boolean; inputFrame?: number; budget?: DumpBudget } = {}) {
    const log = new DirtyLog(first, frames);
    const { truncated } = ptHarvestDirty(pt, log, opts);
    return { dirty: log.ranges(), truncated };
  }

  it('reports dirty leaves as (iova, size) in order, and leaves them dirty without clear', () => {
    const { pt } = dirtyTable();
    const all = [
      { iova: 0x1000n, size: 0x1000n },
      { iova: 0x5000n, size: 0x1000n },
      { iova: 0x200000n, size: 0x200000n },
    ];
    expect(harvest(pt, 0, 2048)).toEqual({ dirty: all, truncated: false });
    expect(harvest(pt, 0, 2048).dirty).toEqual(all);
    // A range reports the leaves it meets: a 2 MiB leaf whole, though the range takes one page of it.
    expect(harvest(pt, 0x10000 + 2, 512 - 2 + 1, { inputFrame: 0x10000 }).dirty).toEqual([
      { iova: 0x10005000n, size: 0x1000n },
      { iova: 0x10200000n, size: 0x200000n },
    ]);
    // Entries reported before the first dirty page: the root's, the level-1 table's, page 0's.
    const budget: DumpBudget = { reads: 1 << 20, entries: 4, truncated: false };
    expect(harvest(pt, 0, 2048, { budget })).toEqual({ dirty: all.slice(0, 1), truncated: true });
  });

  it('clears what it reports with clear, and only that', () => {
    const { mem, pt } = dirtyTable();
    const before = mem.framesInUse;
    expect(harvest(pt, 4, 1000, { clear: true }).dirty).toEqual([
      { iova: 0x5000n, size: 0x1000n },
      { iova: 0x200000n, size: 0x200000n },
    ]);
    expect(harvest(pt, 0, 2048).dirty).toEqual([{ iova: 0x1000n, size: 0x1000n }]);
    expect(harvest(pt, 0, 2048, { clear: true }).dirty).toHaveLength(1);
    expect(harvest(pt, 0, 2048).dirty).toEqual([]);
    // Clearing touches the dirty bit only: the translations and the tables stay.
    expect(pt.lookup(5)).toEqual({ frame: 0x7005, level: 0, perms: 3, shift: 12 });
    expect(pt.lookup(700)).toMatchObject({ frame: 0x40000 + 700 - 512, level: 1 });
    expect(mem.framesInUse).toBe(before);
  });

  it('the bulk scan of leaf tables finds exactly what the entry-by-entry walk finds, cleared alike', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat({ max: 4095 }), { maxLength: 200 }), fc.nat({ max: 4095 }), fc.integer({ min: 1, max: 4096 }), (pages, first, frames) => {
        const make = () => {
          const mem = host();
          const pt = RadixPageTable.create(mem, mockFormat());
          pt.map(0, 4096, { frame: (i) => 0x9000 + i, run: () => 1 }, PROT_READ | PROT_WRITE);
          for (const f of pages) {
            const it = new PtIter(pt, f, 1);
            while (it.next()) if (it.kind === EntryKind.Table) it.descend();
            else {
              const [w, i] = it.writable();
              w[i] |= MOCK_DIRTY;
            }
          }
          return pt;
        };
        const bulk = make();
        const single = make();
        // A budget turns the bulk scan off: every entry goes through next().
        const budget = (): DumpBudget => ({ reads: 1 << 30, entries: 1 << 30, truncated: false });
        expect(harvest(bulk, first, frames, { clear: true })).toEqual(harvest(single, first, frames, { clear: true, budget: budget() }));
        expect(harvest(bulk, 0, 4096)).toEqual(harvest(single, 0, 4096, { budget: budget() }));
      }),
      { numRuns: 60 },
    );
  });

  it('DirtyLog: a leaf sets the bits of the pages it covers inside the range, whole bytes included', () => {
    const bits = (log: DirtyLog) => dirtyBits(log.bitmap!);
    // 4 KiB bits over frames [100, 200): a leaf of 3 frames, a 2 MiB leaf cut at both ends by the range.
    const a = new DirtyLog(100, 100, new Uint8Array(16));
    a.mark(101, 3);
    expect(bits(a)).toEqual([1, 2, 3]);
    a.mark(0, 512);
    expect(bits(a)).toEqual([...Array(100).keys()]);
    expect(a.runs).toEqual([101, 104, 0, 512]);
    expect([a.low, a.high, a.leaves]).toEqual([0, 512, 2]);
    // 64 KiB bits (16 frames each): a page sets the bit of the 64 KiB it falls in.
    const b = new DirtyLog(0x1000, 0x100, new Uint8Array(8), 16);
    b.mark(0x1000 + 17, 1);
    b.mark(0x1000 + 0x40, 0x40);
    expect(bits(b)).toEqual([1, 4, 5, 6, 7]);
    // Adjacent leaves merge into one run; a leaf outside the range sets no bit but is a run to flush.
    const c = new DirtyLog(0, 64, new Uint8Array(8));
    c.mark(5, 1);
    c.mark(6, 1);
    c.mark(1000, 1);
    expect(c.runs).toEqual([5, 7, 1000, 1001]);
    expect(bits(c)).toEqual([5, 6]);
    expect(new DirtyLog(0, 1).ranges()).toEqual([]);
  });

  it('ptRewriteLeaves hands every leaf, and only leaves, to the rewrite, in address order', () => {
    const { pt } = dirtyTable();
    const seen: number[] = [];
    ptRewriteLeaves(pt, (w, i, level) => {
      seen.push(level);
      w[i] |= MOCK_DIRTY;
    });
    // 8 pages at level 0, then one 2 MiB leaf at level 1 (dirtyTable's maps).
    expect(seen).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(harvest(pt, 0, 2048).dirty).toEqual([
      { iova: 0n, size: 0x8000n },
      { iova: 0x200000n, size: 0x200000n },
    ]);
  });

  it('refuses a format without dirty tracking with EOPNOTSUPP', () => {
    const mem = host();
    const plain = mockFormat();
    delete plain.dirty;
    delete plain.clearDirty;
    const pt = RadixPageTable.create(mem, plain);
    expect(() => harvest(pt, 0, 1)).toThrow(/EOPNOTSUPP/);
    const readOnly = RadixPageTable.create(mem, { ...plain, dirty: () => false });
    expect(harvest(readOnly, 0, 1).dirty).toEqual([]);
    expect(() => harvest(readOnly, 0, 1, { clear: true })).toThrow(/EOPNOTSUPP/);
  });
});

describe('dumps label the kernel frames a space maps', () => {
  it('a leaf mapping a kernel frame says so; one mapping VMM memory does not; a freed frame is no longer the kernel\'s', () => {
    const mem = host();
    const pt = RadixPageTable.create(mem, mockFormat());
    const kernel = mem.allocFrame();
    const user = mem.allocUserFrame();
    pt.map(0x10, 1, contiguousRuns(kernel, 1), PROT_READ);
    pt.map(0x11, 1, contiguousRuns(user, 1), PROT_READ);
    const leaves = (t: DumpTable): DumpTable['entries'] => t.entries.flatMap((e) => (e.child ? leaves(e.child) : [e]));
    expect(leaves(ptDump(pt)).map((e) => e.kernel)).toEqual([true, undefined]);
    expect(mem.isKernelFrame(kernel)).toBe(true);
    expect(mem.isKernelFrame(user)).toBe(false);
    mem.freeFrame(kernel);
    expect(mem.isKernelFrame(kernel)).toBe(false);
    const block = mem.allocFrames(4, 4);
    expect([0, 1, 2, 3].every((k) => mem.isKernelFrame(block + k))).toBe(true);
    mem.freeFrames(block, 4);
    expect([0, 1, 2, 3].some((k) => mem.isKernelFrame(block + k))).toBe(false);
  });
});

