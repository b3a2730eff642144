/**
 * The page-table range iterator (core pgtable/iter.ts, after generic_pt's pt_iter.h) over every
 * vendor format the engine suite runs over: range iteration, leaf replay, dump, spec level
 * numbers, bounded iteration of a self-referencing table, memory seen through a stage 2.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  AllocInjector,
  ContiguousRuns,
  EntryKind,
  HostMemory,
  PROT_READ,
  PROT_WRITE,
  PtIter,
  RadixPageTable,
  Stage2Memory,
  ScatteredRuns,
  ptDump,
  ptGeometry,
  ptLeaves,
  ptWalk,
  type DumpBudget,
  type DumpTable,
  type PtFormat,
  type PtLeaf,
} from '@ioasid/core';
import { PT_FORMATS } from './support/pt-formats.js';

function setup(make: () => PtFormat) {
  const mem = new HostMemory(new AllocInjector());
  const fmt = make();
  return { mem, fmt, pt: RadixPageTable.create(mem, fmt), pf: 2 ** (fmt.pageShift - 12) };
}

/** Maps the non-overlapping ones of `ops` and returns what was mapped, per smallest page: input page → output frame. */
function mapAll(pt: RadixPageTable, pf: number, ops: { page: number; pages: number; scattered: boolean }[]): Map<number, number> {
  const ref = new Map<number, number>();
  const done: [number, number][] = [];
  for (const op of ops) {
    if (done.some(([a, n]) => op.page < a + n && a < op.page + op.pages)) continue;
    const at = op.page * pf;
    const frames = op.pages * pf;
    const runs = op.scattered && pf === 1 ? new ScatteredRuns(0x4000000 + at) : new ContiguousRuns(0x100000 * pf + at, frames);
    pt.map(at, frames, runs, PROT_READ | PROT_WRITE);
    for (let i = 0; i < op.pages; i++) ref.set(op.page + i, runs.frame(i * pf));
    done.push([op.page, op.pages]);
  }
  return ref;
}

function leavesOf(t: DumpTable, out: { level: number; iova: bigint }[] = []): { level: number; iova: bigint }[] {
  for (const e of t.entries) {
    if (e.child) leavesOf(e.child, out);
    else if (e.decoded.kind === 'leaf') out.push({ level: t.level, iova: e.iova });
  }
  return out;
}

/** What DESIGN §9 says each specification calls engine level `l`. */
function expectedSpecLevel(fmt: PtFormat, l: number): number {
  if (fmt.name.startsWith('vtd-')) return l + 1; // 1 = PTE … 5 = PML5E
  if (fmt.name.startsWith('arm-lpae-')) return 3 - l; // lookup level, 3 = page
  if (fmt.name.startsWith('power-tce')) return fmt.levels - l; // from the TVE down
  return l;
}

const opsArb = fc.array(fc.record({ page: fc.integer({ min: 0, max: 3000 }), pages: fc.integer({ min: 1, max: 260 }), scattered: fc.boolean() }), { maxLength: 6 });

describe.each(PT_FORMATS)('page-table iterator on %s', (_name, make) => {
  it('visits, in order, exactly the leaves that cover the mapped frames of a range, and a replay of them translates as the table (property)', () => {
    fc.assert(
      fc.property(opsArb, fc.integer({ min: 0, max: 3300 }), fc.integer({ min: 1, max: 1200 }), (ops, firstPage, pages) => {
        const { mem, fmt, pt, pf } = setup(make);
        const mapped = mapAll(pt, pf, ops);
        const first = firstPage * pf;
        const frames = pages * pf;
        const leaves: PtLeaf[] = [];
        ptLeaves(pt, (l) => leaves.push(l), first, frames);
        const seen = new Map<number, number>();
        let next = -1;
        for (const l of leaves) {
          expect(l.frame).toBeGreaterThan(next);
          next = l.frame;
          expect(l.frame < first + frames && l.frame + l.frames > first).toBe(true);
          for (let k = 0; k < l.frames; k += pf) seen.set((l.frame + k) / pf, l.out + k);
        }
        for (const [p, out] of mapped) if (p >= firstPage && p < firstPage + pages) expect(seen.get(p)).toBe(out);
        for (const [p, out] of seen) expect(mapped.get(p)).toBe(out);
        // The whole table replayed into a fresh one (as a shadow is rebuilt) translates the same.
        const copy = RadixPageTable.create(mem, fmt);
        ptLeaves(pt, (l) => copy.map(l.frame, l.frames, new ContiguousRuns(l.out, l.frames), l.perms));
        for (let f = 0; f < 3300 * pf; f += 11 * pf + 1) expect(copy.lookup(f)).toEqual(pt.lookup(f));
      }),
      { numRuns: 8 },
    );
  });

  it('dumps the leaves the iterator visits, and numbers levels as the specification does in walks and dumps', () => {
    const { fmt, pt, pf } = setup(make);
    const mapped = mapAll(pt, pf, [
      { page: 3, pages: 5, scattered: true },
      { page: 600, pages: 300, scattered: false },
    ]);
    const leaves: PtLeaf[] = [];
    ptLeaves(pt, (l) => leaves.push(l));
    const d = ptDump(pt, 0x1000_0000n);
    expect(leavesOf(d)).toEqual(leaves.map((l) => ({ level: expectedSpecLevel(fmt, l.level), iova: 0x1000_0000n + BigInt(l.frame) * 4096n })));
    expect(leaves.reduce((n, l) => n + l.frames, 0)).toBe(mapped.size * pf);
    const steps = pt.walk(3 * pf);
    expect(steps.map((s) => s.specLevel)).toEqual(steps.map((s) => expectedSpecLevel(fmt, s.level)));
    // A dump shows one numbering, the specification's: the root is the top level's.
    const spec = (t: DumpTable, l: number): void => {
      expect(t.level).toBe(expectedSpecLevel(fmt, l));
      for (const e of t.entries) if (e.child) spec(e.child, l - 1);
    };
    spec(d, fmt.levels - 1);
    expect(ptGeometry(fmt).spec).toEqual([...Array(fmt.levels).keys()].map((l) => expectedSpecLevel(fmt, l)));
  });

  it('stops a table whose entries point back at its own top table at the budget, and says so', () => {
    const { mem, fmt, pt } = setup(make);
    if (fmt.levels === 1) return; // a single level holds no table entries
    const top = fmt.levels - 1;
    // The whole first frame: a top table of fewer entries (LPAE 16K, 2 at the start level) is read as a larger one below.
    const w = mem.wordsForWrite(pt.root);
    for (let idx = 0; idx < 512; idx++) fmt.setTable(w, mem.wordBase(pt.root) + idx * 2, top, pt.root);
    const budget: DumpBudget = { reads: 3000, entries: 1 << 20, truncated: false };
    const d = ptDump(pt, 0n, budget);
    expect(budget.truncated).toBe(true);
    expect(budget.reads).toBe(0);
    expect(d.entries.length).toBeGreaterThan(0);
    const it2 = new PtIter(pt, 0, Number.POSITIVE_INFINITY, { reads: 1 << 20, entries: 500, truncated: false });
    let reported = 0;
    while (it2.next()) {
      reported++;
      if (it2.kind === EntryKind.Table) it2.descend();
    }
    expect([reported, it2.truncated]).toEqual([500, true]);
  });

  it('serves as the stage 2 of a guest-physical view: each frame it maps readable reads as its host frame, others as zeros', () => {
    const { mem, fmt, pt, pf } = setup(make);
    const host = mem.allocFrames(4 * pf, pf);
    pt.map(16 * pf, 2 * pf, new ContiguousRuns(host, 2 * pf), PROT_READ);
    pt.map(20 * pf, 2 * pf, new ContiguousRuns(host + 2 * pf, 2 * pf), PROT_WRITE); // write-only where the format can say it
    mem.write(host * 4096 + 8, new Uint8Array([1, 2, 3, 4]));
    const view = new Stage2Memory(mem, pt);
    for (let g = 14 * pf; g < 24 * pf; g++) {
      const leaf = ptWalk(pt, g);
      expect(view.hostFrame(g)).toBe(leaf !== null && (leaf.perms & PROT_READ) !== 0 ? leaf.frame : -1);
      if (g >= 16 * pf && g < 18 * pf) expect(view.frameMapped(g)).toBe(true);
      if (g < 16 * pf || g >= 22 * pf || (g >= 18 * pf && g < 20 * pf)) expect(view.frameMapped(g)).toBe(false);
    }
    expect(view.u32(16 * pf * 4096 + 8)).toBe(mem.u32(host * 4096 + 8));
    expect(view.u32(16 * pf * 4096 + 8)).not.toBe(0);
    expect(view.u32(24 * pf * 4096 + 8)).toBe(0);
    expect(view.hostFrame(ptGeometry(fmt).frames + 16 * pf)).toBe(-1); // beyond the input: not wrapped
  });
});
