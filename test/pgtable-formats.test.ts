/**
 * One table-driven suite over every vendor's page-table format, as Linux generic_pt's kunit suite
 * runs one set of tests over fmt/*.h (DESIGN §5): the same engine, the same properties, every format.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  AllocInjector,
  ContiguousRuns,
  EntryKind,
  HostMemory,
  RadixPageTable,
  ScatteredRuns,
  dirtyByPattern,
  entryShift,
  type PtFormat,
} from '@ioasid/core';
import { PT_FORMATS as FORMATS } from './support/pt-formats.js';
import { everyAllocationFailure } from './support/atomicity.js';

function setup(make: () => PtFormat) {
  const injector = new AllocInjector();
  const mem = new HostMemory(injector);
  const fmt = make();
  const pt = RadixPageTable.create(mem, fmt);
  const pf = 2 ** (fmt.pageShift - 12); // 4 KiB frames per smallest leaf
  return { injector, mem, fmt, pt, pf };
}

/** Largest level a leaf may sit at. */
function topLeafLevel(fmt: PtFormat): number {
  let top = 0;
  for (let l = 0; l < fmt.levels; l++) if (fmt.leafAllowed(l)) top = l;
  return top;
}

describe.each(FORMATS)('radix engine on %s', (_name, make) => {
  it('translates every mapped page as a reference model does, and frees every table after unmapping (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ page: fc.integer({ min: 0, max: 3000 }), pages: fc.integer({ min: 1, max: 260 }), scattered: fc.boolean() }), { maxLength: 8 }),
        (ops) => {
          const { mem, pt, pf } = setup(make);
          const base = mem.framesInUse;
          const ref = new Map<number, number>();
          const done: { at: number; frames: number }[] = [];
          for (const op of ops) {
            const at = op.page * pf;
            const frames = op.pages * pf;
            if (done.some((d) => at < d.at + d.frames && d.at < at + frames)) continue;
            // Scattered 4 KiB backing only fits 4 KiB leaves; larger pages need contiguous memory.
            const runs = op.scattered && pf === 1 ? new ScatteredRuns(0x4000000 + at) : new ContiguousRuns(0x100000 * pf + at, frames);
            pt.map(at, frames, runs, 3);
            for (let i = 0; i < frames; i++) ref.set(at + i, runs.frame(i));
            done.push({ at, frames });
          }
          for (let f = 0; f < 3300 * pf; f += 13 * pf + 1) expect(pt.lookup(f)?.frame ?? null).toBe(ref.get(f) ?? null);
          for (const d of done) pt.unmap(d.at, d.frames);
          expect(mem.framesInUse).toBe(base);
          expect(pt.tableCount).toBe(1);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('maps an aligned, contiguous range with the largest leaf the format allows', () => {
    const { fmt, pt } = setup(make);
    const level = topLeafLevel(fmt);
    const frames = 2 ** (entryShift(fmt, level) - 12);
    pt.map(frames, frames, new ContiguousRuns(frames * 3, frames), 3);
    const inside = frames - 1;
    const leaf = pt.lookup(frames + inside)!;
    expect(leaf.level).toBe(level);
    expect(leaf.frame).toBe(frames * 3 + inside);
    // One step below: a range one smallest-leaf short of the top leaf uses the next level down.
    const short = frames - 2 ** (fmt.pageShift - 12);
    if (level > 0) {
      pt.map(frames * 4, short, new ContiguousRuns(frames * 8, short), 1);
      expect(pt.lookup(frames * 4)!.level).toBeLessThan(level);
      expect(pt.lookup(frames * 4)!.perms).toBe(1);
    }
  });

  it('reads back from memory exactly the entry bytes a walk reports, in the format byte order', () => {
    const { mem, fmt, pt, pf } = setup(make);
    pt.map(7 * pf, pf, new ContiguousRuns(0x12340 * pf, pf), 3);
    const steps = pt.walk(7 * pf);
    expect(steps.length).toBe(fmt.levels);
    for (const s of steps) {
      const bytes = mem.read(s.entryAddr, 8);
      const v = new DataView(bytes.buffer).getBigUint64(0, !fmt.bigEndian);
      expect(v).toBe(s.raw);
    }
    const leafStep = steps[steps.length - 1];
    expect(leafStep.decoded.kind).toBe('leaf');
    expect(leafStep.decoded.addr).toBe(BigInt(0x12340 * pf) << 12n);
  });

  it('an all-zero entry is empty at every level (the engine skips decoding zero words)', () => {
    const fmt = make();
    for (let l = 0; l < fmt.levels; l++) expect(fmt.kind(new Uint32Array(2), 0, l)).toBe(EntryKind.Empty);
  });

  it('leaves memory and tables exactly as before when any allocation of a map fails', () => {
    const { injector, mem, pt, pf } = setup(make);
    pt.map(0, pf, new ContiguousRuns(0x500 * pf, pf), 3);
    // A range far from the first map (half the input span away) needs new tables below the root.
    const far = Math.min(2 ** 20 * pf, pt.spanFrames / 2);
    everyAllocationFailure(injector, () => pt.map(far, 40 * pf, new ContiguousRuns(0x900000 * pf, 40 * pf), 3), {
      state: () => ({ frames: mem.framesInUse, root: mem.read(pt.rootAddr, 64), first: pt.lookup(0)?.frame }),
      errno: null,
      limit: 21, // succeeds by the 20th allocation
    });
    expect(pt.lookup(far + 3 * pf)?.frame).toBe(0x900000 * pf + 3 * pf);
  });
});

/** Formats that state their dirty test as a bit pattern (PtFormat.dirtyPattern), which harvests test inline. */
const PATTERNED = FORMATS.filter(([, make]) => make().dirtyPattern !== undefined);

describe('dirty patterns', () => {
  it('the formats with dirty tracking state it as a pattern (VT-d second level, LPAE stages, the example)', () => {
    expect(PATTERNED.length).toBeGreaterThanOrEqual(3);
  });

  it.each(PATTERNED)('%s: dirty() is never true where its pattern does not hold, for any level-0 entry words (property)', (_name, make) => {
    const fmt = make();
    const pattern = fmt.dirtyPattern!;
    const word = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, pattern.loValue, pattern.loMask, pattern.hiValue, pattern.hiMask, 0xffffffff));
    fc.assert(
      fc.property(word, word, (lo, hi) => {
        const w = new Uint32Array([lo, hi]);
        if (fmt.dirty!(w, 0, 0)) expect(dirtyByPattern(pattern, w, 0)).toBe(true);
        // Formats whose whole test is the pattern (VT-d, LPAE, the example) say exactly it.
        if (!/^RISC-V|^riscv|Sv/.test(_name)) expect(fmt.dirty!(w, 0, 0)).toBe(dirtyByPattern(pattern, w, 0));
      }),
      { numRuns: 300 },
    );
  });
});
