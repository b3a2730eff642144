import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AllocInjector, DEFAULT_HOST_MEMORY, HostMemory, INTERRUPT_HOLE_FRAMES, createMachine, type Machine } from '../src/index.js';
import { FramePool } from '../src/memory/frame-pool.js';
import { bytes, expectErrno, MiB, mockMachine } from './helpers.js';

const GiB = 1n << 30n;
const PAGE = 4096n;

/** Host frame behind a VMM address (the page must be populated). */
function hostFrameOf(m: Machine, va: bigint): number {
  const r = m.vmm.region(va, 1n);
  return r.frameOf(Number((va - r.vaddr) / PAGE));
}

describe('host memory is finite (DESIGN §4; issue 15 findings 1 and 2)', () => {
  it('takes its size from createMachine({ hostMemory }), 64 GiB by default, and refuses sizes it cannot model', () => {
    expect(DEFAULT_HOST_MEMORY).toBe(64n * GiB);
    expect(mockMachine().m.hostMemory.size).toBe(DEFAULT_HOST_MEMORY);
    expect(mockMachine({ hostMemory: 256n * MiB }).m.hostMemory.size).toBe(256n * MiB);
    for (const bad of [0n, 32n * MiB, 256n * MiB + PAGE, (1n << 46n) + 2n * MiB, -GiB]) {
      expectErrno(() => createMachine({ vendor: 'mock', hostMemory: bad }), 'EINVAL', /hostMemory/);
    }
    for (const junk of [1024, '1G', null, {}]) {
      expectErrno(() => createMachine({ vendor: 'mock', hostMemory: junk as never }), 'EINVAL', /hostMemory/);
    }
  });

  it('finding 1: a huge untouched mmap costs nothing and the next buffer still lies inside host memory', () => {
    const { m } = mockMachine({ hostMemory: 256n * MiB });
    const big = m.vmm.mmap(1n << 50n); // a petabyte of address space, nothing populated
    const small = m.vmm.mmap(8n * PAGE);
    expect(big).toBeLessThan(small);
    m.vmm.write(small + 5n, bytes(1, 2, 3));
    expect([...m.vmm.read(small + 5n, 3)]).toEqual([1, 2, 3]);
    const pa = BigInt(hostFrameOf(m, small)) * PAGE;
    expect(pa).toBeLessThan(m.hostMemory.size);
    expect([...m.hostMemory.read(pa + 5n, 3)]).toEqual([1, 2, 3]);
    // Reading an untouched page gives zeros and populates nothing (the zero page).
    const before = m.hostMemory.framesInUse;
    expect([...m.vmm.read(big + (1n << 49n), 4)]).toEqual([0, 0, 0, 0]);
    expect(m.hostMemory.framesInUse).toBe(before);
  });

  it('the VMM address space ends at 2^56: an mmap past it is ENOMEM', () => {
    const { m } = mockMachine();
    expectErrno(() => m.vmm.mmap(1n << 60n), 'ENOMEM', /address space/);
    expectErrno(() => m.vmm.mmap(0n), 'EINVAL');
  });

  it('populating past host memory is ENOMEM and writes nothing; munmap gives the frames back', () => {
    const { m } = mockMachine({ hostMemory: 64n * MiB, guestMemory: 4n * MiB });
    const free0 = m.hostMemory.framesFree;
    const va = m.vmm.mmap(1n * GiB);
    const used = m.hostMemory.framesInUse;
    // A write spanning more pages than are free: refused whole.
    expectErrno(() => m.vmm.write(va, new Uint8Array(free0 * 4096 + 1)), 'ENOMEM', /host memory/);
    expect(m.hostMemory.framesInUse).toBe(used);
    expect(m.hostMemory.framesFree).toBe(free0);
    expect([...m.vmm.read(va, 1)]).toEqual([0]);
    m.vmm.write(va, new Uint8Array(free0 * 4096).fill(9)); // exactly what is left
    expect(m.hostMemory.framesFree).toBe(0);
    expect(m.hostMemory.framesInUse).toBe(used + free0);
    const other = m.vmm.mmap(PAGE);
    expectErrno(() => m.vmm.write(other, bytes(1)), 'ENOMEM');
    expectErrno(() => m.vmm.mmap(2n * MiB, { hugePages: '2M' }), 'ENOMEM', /huge page/);
    expectErrno(() => m.hostMemory.allocFrame(), 'ENOMEM', /exhausted/);
    m.vmm.munmap(va, 1n * GiB);
    expect(m.hostMemory.framesFree).toBe(free0);
    expect(m.hostMemory.framesInUse).toBe(used);
    m.vmm.write(other, bytes(1));
    expect([...m.vmm.read(other, 1)]).toEqual([1]);
  });

  it('a recycled frame comes back zeroed', () => {
    const { m } = mockMachine({ hostMemory: 64n * MiB, guestMemory: 4n * MiB });
    const a = m.vmm.mmap(PAGE);
    m.vmm.write(a, new Uint8Array(4096).fill(0xaa));
    const frame = hostFrameOf(m, a);
    m.vmm.munmap(a, PAGE);
    // Allocate until the allocator hands that frame out again; every frame must come back zeroed.
    let k = -1;
    for (let n = m.hostMemory.framesFree; n > 0 && k !== frame; n--) {
      k = m.hostMemory.allocFrame();
      expect(m.hostMemory.read(BigInt(k) * PAGE, 4096).every((b) => b === 0)).toBe(true);
    }
    expect(k).toBe(frame);
  });

  it('finding 2: kernel frames run out with ENOMEM instead of running into VMM memory', () => {
    const { m } = mockMachine({ hostMemory: 64n * MiB, guestMemory: 4n * MiB });
    const va = m.vmm.mmap(1n * MiB);
    const secret = new Uint8Array(1 << 20).map((_, i) => (i * 7 + 3) & 0xff);
    m.vmm.write(va, secret);
    const userFrames = new Set<number>();
    for (let p = 0n; p < MiB; p += PAGE) userFrames.add(hostFrameOf(m, va + p));
    const kernel: number[] = [];
    let err: unknown;
    try {
      for (;;) kernel.push(m.hostMemory.allocFrame());
    } catch (e) {
      err = e;
    }
    expect((err as { errno?: string }).errno).toBe('ENOMEM');
    expect(kernel.some((f) => userFrames.has(f))).toBe(false);
    expect(new Set(kernel).size).toBe(kernel.length);
    expect(Buffer.compare(m.vmm.read(va, 1 << 20), secret)).toBe(0);
    expectErrno(() => m.hostMemory.allocFrames(4, 4), 'ENOMEM', /contiguous/);
    for (const f of kernel) m.hostMemory.freeFrame(f);
    expect(m.hostMemory.allocFrames(512, 512) % 512).toBe(0);
  });

  it('never hands out one frame twice, whatever mix of kernel, ordinary and huge allocations (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('kernel' as const), count: fc.constantFrom(1, 1, 1, 2, 4, 16, 512, 1024), free: fc.boolean() }),
            fc.record({ op: fc.constant('user' as const), pages: fc.integer({ min: 1, max: 700 }), free: fc.boolean() }),
            fc.record({ op: fc.constant('huge' as const), free: fc.boolean() }),
          ),
          { maxLength: 40 },
        ),
        (ops) => {
          const host = new HostMemory(new AllocInjector(), 64n * MiB);
          const owner = new Map<number, string>();
          const claim = (f: number, who: string) => {
            expect(owner.get(f), `frame ${f} handed to ${who} while ${owner.get(f)} holds it`).toBeUndefined();
            expect(f * 4096).toBeLessThan(host.limit);
            owner.set(f, who);
          };
          const live: { kind: string; frame: number; count: number }[] = [];
          for (const [i, o] of ops.entries()) {
            try {
              if (o.op === 'kernel') {
                const f = host.allocFrames(o.count, o.count);
                expect(f % o.count).toBe(0);
                for (let k = 0; k < o.count; k++) claim(f + k, `kernel#${i}`);
                live.push({ kind: 'kernel', frame: f, count: o.count });
              } else if (o.op === 'user') {
                for (let k = 0; k < o.pages; k++) {
                  const f = host.allocUserFrame();
                  claim(f, `user#${i}`);
                  live.push({ kind: 'user', frame: f, count: 1 });
                }
              } else {
                const f = host.reserveHugePage(512);
                expect(f % 512).toBe(0);
                for (let k = 0; k < 512; k++) claim(f + k, `huge#${i}`);
                live.push({ kind: 'huge', frame: f, count: 512 });
              }
            } catch (e) {
              expect((e as { errno?: string }).errno).toBe('ENOMEM');
            }
            if (o.free && live.length > 0) {
              const v = live.splice((i * 7919) % live.length, 1)[0];
              for (let k = 0; k < v.count; k++) owner.delete(v.frame + k);
              if (v.kind === 'kernel') host.freeFrames(v.frame, v.count);
              else if (v.kind === 'user') host.freeUserFrame(v.frame);
              else host.releaseHugePage(v.frame, v.count);
            }
          }
          expect(host.framesFree + owner.size).toBe(host.totalFrames - 0x1000);
          // Freed memory merges back: with everything given back, the largest block is whole again.
          for (const v of live) {
            if (v.kind === 'kernel') host.freeFrames(v.frame, v.count);
            else if (v.kind === 'user') host.freeUserFrame(v.frame);
            else host.releaseHugePage(v.frame, v.count);
          }
          expect(host.framesFree).toBe(host.totalFrames - 0x1000);
          expect(host.allocFrames(8192, 8192)).toBe(8192);
          expect(host.allocFrames(4096, 4096)).toBe(4096);
        },
      ),
      { numRuns: 30 },
    );
  });
});

describe('memory images (a dump the hardware model walks on its own)', () => {
  it('image() lists the written chunks; fromImage() reads back the same bytes, zeros elsewhere', () => {
    const mem = new HostMemory(new AllocInjector(), 64n << 20n);
    const f = mem.allocFrame();
    mem.write(f * 4096 + 8, new Uint8Array([1, 2, 3]));
    mem.write(40 << 20, new Uint8Array([9]));
    const chunks = [...mem.image()];
    expect(chunks.map((c) => c.pa)).toEqual([...chunks.map((c) => c.pa)].sort((a, b) => a - b));
    const flat = new Uint8Array(42 << 20);
    for (const c of chunks) flat.set(c.bytes, c.pa);
    const copy = HostMemory.fromImage(flat);
    expect([...copy.read(f * 4096 + 8, 3)]).toEqual([1, 2, 3]);
    expect(copy.read(40 << 20, 1)[0]).toBe(9);
    expect(copy.size).toBe(64n << 20n);
    const based = HostMemory.fromImage(new Uint8Array([7, 7]), 0x1_0000_0000n);
    expect(based.size).toBe(0x1_0020_0000n);
    expect([...based.read(0x1_0000_0000n, 3)]).toEqual([7, 7, 0]);
    expect(() => HostMemory.fromImage(new Uint8Array(1), 1n << 46n)).toThrow(/does not fit/);
  });
});

describe('no RAM behind the interrupt address range (0xFEE00000–0xFEEFFFFF), on every machine', () => {
  const [holeLo, holeHi] = INTERRUPT_HOLE_FRAMES;
  const inHole = (f: number, n = 1) => f < holeHi && f + n > holeLo;

  it('no frame, 2 MiB page or 1 GiB page handed out covers it; it is not counted free; its gigabyte is used last', () => {
    const mem = new HostMemory(new AllocInjector(), 8n << 30n);
    expect([holeLo, holeHi]).toEqual([0xfee00, 0xfef00]);
    expect(mem.framesFree).toBe(mem.totalFrames - 0x1000 - (holeHi - holeLo));
    const gib: number[] = [];
    for (;;) {
      try {
        gib.push(mem.reserveHugePage(1 << 18));
      } catch {
        break;
      }
    }
    // 1 GiB blocks 1, 2, 4 … 7: block 0 holds the reserved low 16 MiB, block 3 the interrupt range.
    expect(gib.map((f) => f >> 18).sort((a, b) => a - b)).toEqual([1, 2, 4, 5, 6, 7]);
    const two: number[] = [];
    for (;;) {
      try {
        two.push(mem.reserveHugePage(512));
      } catch {
        break;
      }
    }
    expect(two.some((f) => inHole(f, 512))).toBe(false);
    // Block 0's 2 MiB pages come first, the hole's gigabyte only once they are gone.
    const firstFallback = two.findIndex((f) => f >= 0xc0000);
    expect(two.slice(0, firstFallback).every((f) => f < 0x40000)).toBe(true);
    expect(firstFallback).toBe((0x40000 - 0x1000) / 512);
    for (let n = mem.framesFree; n > 0; n--) expect(inHole(mem.allocUserFrame())).toBe(false);
    expect(mem.framesFree).toBe(0);
    expect(() => mem.allocUserFrame()).toThrow(/exhausted/);
  });

  it('kernel frames stay in the low 32 MiB of a 64 GiB machine while 5 GiB of VMM pages are populated beside them', () => {
    const mem = new HostMemory(new AllocInjector());
    const kernel: number[] = [];
    for (let i = 0; i < 2000; i++) kernel.push(mem.allocFrame());
    let user = 0;
    for (let i = 0; i < 5 * 262144; i++) {
      const f = mem.allocUserFrame();
      if (inHole(f)) user++;
    }
    expect(user).toBe(0);
    for (let i = 0; i < 2000; i++) kernel.push(mem.allocFrame());
    expect(kernel.slice(0, 2000).every((f) => f < 0x2000)).toBe(true);
    expect(kernel.some((f) => inHole(f))).toBe(false);
    // So a memory image of the kernel's tables stays small.
    const m = createMachine({ vendor: 'mock' });
    m.openIoasidFd();
    expect(Math.max(...[...m.hostMemory.image()].map((c) => c.pa))).toBeLessThan(32 * 2 ** 20);
  });

  it('property: random allocations (single, bulk, contiguous) and frees never hand out a hole frame or a frame twice, and use every other frame', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 1 << 12 }), fc.integer({ min: 1, max: 200 })), { minLength: 1, maxLength: 3 }),
        fc.array(fc.record({ op: fc.constantFrom('one', 'one', 'many', 'bulk', 'free'), n: fc.integer({ min: 1, max: 80 }), log2: fc.integer({ min: 0, max: 7 }), pick: fc.nat() }), { maxLength: 300 }),
        (holes, ops) => {
          const total = 1 << 12;
          const pool = new FramePool(16, total, holes.map(([s, n]) => [s, s + n] as const), 8);
          const bad = (f: number) => holes.some(([s, n]) => f >= s && f < s + n);
          const held = new Map<number, number>();
          const owner = new Uint8Array(total);
          const take = (f: number, n: number) => {
            for (let i = f; i < f + n; i++) {
              expect(bad(i) || i < 16 || owner[i]).toBeFalsy();
              owner[i] = 1;
            }
            held.set(f, n);
          };
          const noop = () => {};
          for (const o of ops) {
            if (o.op === 'free' && held.size > 0) {
              const f = [...held.keys()][o.pick % held.size];
              pool.free(f, held.get(f)!);
              owner.fill(0, f, f + held.get(f)!);
              held.delete(f);
            } else if (o.op === 'one') {
              for (let i = 0; i < o.n && pool.freeFrames > 0; i++) take(pool.alloc1(noop), 1);
            } else if (o.op === 'bulk') {
              const n = Math.min(o.n * 3, pool.freeFrames);
              const out = new Float64Array(n);
              pool.allocMany(out, 0, n, noop);
              for (const f of out) take(f, 1);
            } else if (o.op === 'many') {
              try {
                take(pool.allocContiguous(o.n, 2 ** o.log2, noop), o.n);
              } catch {
                // ENOMEM for a contiguous run is fine when memory is fragmented
              }
            }
          }
          // Whatever is left is exactly the RAM nobody holds, hole frames excluded.
          let left = 0;
          while (pool.freeFrames > 0) {
            take(pool.alloc1(noop), 1);
            left++;
          }
          expect(() => pool.alloc1(noop)).toThrow(/exhausted/);
          let ram = 0;
          for (let f = 16; f < total; f++) if (!bad(f)) ram++;
          expect([...held.values()].reduce((a, b) => a + b, 0)).toBe(ram);
          expect(left).toBeGreaterThanOrEqual(0);
        },
      ),
      { numRuns: 30 },
    );
  });
});
