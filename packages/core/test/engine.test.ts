import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AllocInjector, HostMemory, RadixPageTable, contiguousRuns, IoasidError } from '../src/index.js';
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
