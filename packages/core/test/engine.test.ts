import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AllocInjector, HostMemory, RadixPageTable, VmmMemory, contiguousRuns, IoasidError } from '../src/index.js';
import { mockFormat } from './mock-format.js';

function setup() {
  const inj = new AllocInjector();
  const mem = new HostMemory(inj);
  return { inj, mem, pt: RadixPageTable.create(mem, mockFormat()) };
}

describe('radix engine', () => {
  it('maps 4 KiB leaves for scattered frames and decodes them from memory', () => {
    const { mem, pt } = setup();
    pt.map(0x10, 3, { frame: (i) => 0x9000 - i, run: () => 1 }, 3);
    for (let i = 0; i < 3; i++) expect(pt.lookup(0x10 + i)).toMatchObject({ frame: 0x9000 - i, level: 0, perms: 3, shift: 12 });
    expect(pt.lookup(0x13)).toBeNull();
    // root + level-1 + level-0 tables
    expect(pt.tableCount).toBe(3);
    const steps = pt.walk(0x11);
    expect(steps.map((s) => s.level)).toEqual([2, 1, 0]);
    const raw = mem.read(steps[2].entryAddr, 8);
    expect(new DataView(raw.buffer).getBigUint64(0, true)).toBe(steps[2].raw);
  });

  it('uses a 2 MiB leaf when iova, frame and contiguity allow, and 4 KiB otherwise', () => {
    const { pt } = setup();
    pt.map(512, 512, contiguousRuns(0x40000, 512), 3);
    expect(pt.lookup(512 + 7)).toMatchObject({ frame: 0x40007, level: 1, shift: 21 });
    pt.map(2048 + 1, 512, contiguousRuns(0x80001, 512), 1);
    expect(pt.lookup(2048 + 1)).toMatchObject({ level: 0 });
  });

  it('frees tables that an unmap empties and refuses to cut a leaf', () => {
    const { mem, pt } = setup();
    const before = mem.framesInUse;
    pt.map(0, 1024 + 5, { frame: (i) => 0x7000000 - i, run: () => 1 }, 3);
    expect(mem.framesInUse).toBeGreaterThan(before);
    pt.unmap(0, 1024 + 5);
    expect(mem.framesInUse).toBe(before);
    expect(pt.tableCount).toBe(1);
    pt.map(512, 512, contiguousRuns(0x40000, 512), 3);
    expect(() => pt.unmap(512, 1)).toThrow(/cut a level-1 leaf/);
  });

  it('rolls back every entry and table when an allocation fails mid-map', () => {
    const { inj, mem, pt } = setup();
    pt.map(0, 1, contiguousRuns(5, 1), 3);
    const before = mem.framesInUse;
    const snapshot = mem.read(pt.rootAddr, 4096);
    for (let n = 1; n <= 3; n++) {
      inj.failNth(n);
      expect(() => pt.map(512 * 512, 600, { frame: (i) => 0x9000000 - i, run: () => 1 }, 3)).toThrow(IoasidError);
      expect(mem.framesInUse).toBe(before);
      expect(mem.read(pt.rootAddr, 4096)).toEqual(snapshot);
    }
    inj.failNth(0);
  });

  it('agrees with a reference model over random maps and unmaps (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ start: fc.integer({ min: 0, max: 4000 }), len: fc.integer({ min: 1, max: 700 }), huge: fc.boolean() }), { maxLength: 12 }),
        (ops) => {
          const { mem, pt } = setup();
          const base = mem.framesInUse;
          const ref = new Map<number, number>();
          const maps: { start: number; len: number }[] = [];
          for (const op of ops) {
            if (maps.some((m) => op.start < m.start + m.len && m.start < op.start + op.len)) continue;
            const out = op.huge ? 0x100000 + op.start : 0x4000000;
            const runs = op.huge ? contiguousRuns(out, op.len) : { frame: (i: number) => out - op.start * 2 - i, run: () => 1 };
            pt.map(op.start, op.len, runs, 3);
            for (let i = 0; i < op.len; i++) ref.set(op.start + i, runs.frame(i));
            maps.push(op);
          }
          for (let f = 0; f < 4800; f += 7) expect(pt.lookup(f)?.frame ?? null).toBe(ref.get(f) ?? null);
          for (const m of maps) pt.unmap(m.start, m.len);
          expect(mem.framesInUse).toBe(base);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('radix engine over a VMM frame table (frames read in place)', () => {
  function vmmSetup(pages: number) {
    const { inj, mem, pt } = setup();
    const vmm = new VmmMemory(mem);
    const va = vmm.mmap(BigInt(pages) * 4096n);
    const region = vmm.region(va, BigInt(pages) * 4096n);
    return { inj, mem, pt, region };
  }

  it('maps across leaf tables, frame-table leaves and a table an earlier map began, as frame() gives the frames', () => {
    const pages = 4096 + 700;
    const { pt, region } = vmmSetup(pages);
    region.touch(0, pages);
    // An earlier map fills the start of a leaf table; the next one continues in that table (not fresh).
    pt.map(0x100, 10, region.runs(0), 3);
    pt.map(0x10a, pages - 10, region.runs(10), 3);
    for (let p = 0; p < pages; p += 37) expect(pt.lookup(0x100 + p)).toMatchObject({ frame: region.frameOf(p), level: 0 });
    expect(pt.lookup(0x100 + pages - 1)).toMatchObject({ frame: region.frameOf(pages - 1) });
    expect(pt.lookup(0x100 + pages)).toBeNull();
  });

  it('refuses a page already mapped (EEXIST) and a page never populated, and takes back what the failed map wrote', () => {
    const { pt, region } = vmmSetup(2048);
    region.touch(0, 1024);
    pt.map(600, 1, region.runs(5), 3);
    expect(() => pt.map(0, 1024, region.runs(0), 3)).toThrow(/already mapped/);
    expect(pt.lookup(0)).toBeNull();
    expect(pt.lookup(599)).toBeNull();
    pt.map(1500, 10, region.runs(10), 3);
    expect(() => pt.map(1000, 100, region.runs(1000), 3)).toThrow(/not populated/);
    expect(pt.lookup(1000)).toBeNull();
    expect(pt.lookup(1023)).toBeNull();
  });

  it('a map refused midway leaves every entry that was there before, and no table it built', () => {
    const { mem, pt } = setup();
    // A leaf in the middle of the range, another in the same level-0 table past it, one in the next table.
    pt.map(600, 1, contiguousRuns(0x5000, 1), 3);
    pt.map(700, 1, contiguousRuns(0x5001, 1), 3);
    pt.map(1100, 1, contiguousRuns(0x5002, 1), 3);
    const frames = mem.framesInUse;
    const tables = pt.tableCount;
    expect(() => pt.map(0, 2048, { frame: (i) => 0x9000 + i, run: () => 1 }, 3)).toThrow(/already mapped/);
    expect(pt.lookup(600)).toMatchObject({ frame: 0x5000, level: 0 });
    expect(pt.lookup(700)).toMatchObject({ frame: 0x5001, level: 0 });
    expect(pt.lookup(1100)).toMatchObject({ frame: 0x5002, level: 0 });
    for (const at of [0, 599, 601, 1024]) expect(pt.lookup(at)).toBeNull();
    expect(pt.tableCount).toBe(tables);
    expect(mem.framesInUse).toBe(frames);
    // The tables still know their entries: unmapping the three frees everything.
    pt.unmap(600, 1);
    pt.unmap(700, 1);
    pt.unmap(1100, 1);
    expect(pt.tableCount).toBe(1);
  });
});

describe('host memory', () => {
  it('reads never-allocated frames as zeros and counts frames in use', () => {
    const mem = new HostMemory(new AllocInjector());
    expect(mem.read(0x123456789000n, 16)).toEqual(new Uint8Array(16));
    const f = mem.allocFrame();
    expect(mem.framesInUse).toBe(1);
    mem.write(f * 4096 + 8, new Uint8Array([1, 2, 3]));
    expect([...mem.read(BigInt(f * 4096 + 8), 3)]).toEqual([1, 2, 3]);
    mem.freeFrame(f);
    expect(mem.framesInUse).toBe(0);
    expect(mem.allocFrame()).toBe(f);
    expect(mem.read(BigInt(f * 4096 + 8), 3)).toEqual(new Uint8Array(3));
  });

  it('allocates naturally aligned contiguous frames', () => {
    const mem = new HostMemory(new AllocInjector());
    mem.allocFrame();
    const f = mem.allocFrames(16, 16);
    expect(f % 16).toBe(0);
    expect(mem.framesInUse).toBe(17);
  });

  it('a zeroed range that covers whole storage chunks reads as zeros again, through the chunk cache', () => {
    const mem = new HostMemory(new AllocInjector());
    const f = mem.allocFrames(64, 64);
    for (let i = 0; i < 64; i++) mem.write((f + i) * 4096 + 12, new Uint8Array([i + 1]));
    expect(mem.u32((f + 63) * 4096 + 12)).toBe(64);
    mem.freeFrames(f, 64);
    // Handed out again from the pool, the frames are zeroed (whole chunks are dropped).
    const g = mem.allocFrames(64, 64);
    expect(g).toBe(f);
    for (let i = 0; i < 64; i++) expect(mem.u32((g + i) * 4096 + 12)).toBe(0);
    mem.write(g * 4096, new Uint8Array([7]));
    expect(mem.u32(g * 4096)).toBe(7);
    expect(mem.wordsForRead(g)[mem.wordBase(g)]).toBe(7);
  });

  it('copies bytes exactly across word, frame and chunk boundaries, small and large', () => {
    const mem = new HostMemory(new AllocInjector());
    const chunkEnd = 2 * 1024 * 1024 * 7; // a 2 MiB chunk boundary
    for (const [start, n] of [[chunkEnd - 3, 5], [chunkEnd - 33, 64], [chunkEnd - 1, 65], [chunkEnd - 4097, 9000], [0x12345, 1]] as const) {
      const data = Uint8Array.from({ length: n }, (_, i) => (i * 37 + start) & 0xff);
      mem.write(start, data);
      expect(mem.read(BigInt(start), n)).toEqual(data);
      const out = new Uint8Array(n + 4).fill(0xee);
      mem.readInto(start, out, 2, n);
      expect(out.subarray(2, 2 + n)).toEqual(data);
      expect([out[0], out[1], out[n + 2], out[n + 3]]).toEqual([0xee, 0xee, 0xee, 0xee]);
    }
    mem.write(100, new Uint8Array([1, 2, 3, 4, 5]));
    mem.write(101, new Uint8Array([9]));
    expect([...mem.read(100n, 5)]).toEqual([1, 9, 3, 4, 5]);
  });
});
