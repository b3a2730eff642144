import { afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import {
  AllocInjector,
  contiguousRuns,
  DmaFault,
  IoasidError,
  PROT_READ,
  PROT_WRITE,
  RadixPageTable,
  type DumpTable,
  type FaultRecord,
  type HostMemory,
  type IoasidFd,
  type LookupView,
  type MachineContext,
  type PtFormat,
} from '@ioasid/core';
import { FirstLevelFormat, SecondLevelFormat, VtdDriver, VtdUnit } from '../src/index.js';
import { newWalkOut } from '../src/hw/walker.js';
import { DUMP_ENTRIES } from '../src/views.js';
import { expectErrno, MiB, newHost, vtdMachine } from './helpers.js';

/**
 * Issue 15 (isolation): no address is truncated into an entry or a pointer field, every view of a
 * guest structure is bounded, ID spaces are O(1) with a clean ENOSPC, and odd arguments only ever
 * give IoasidError / DmaFault.
 */

/** The unit's host address width (CAP/DMAR HAW): every entry and pointer holds addresses below 2^48. */
const HAW = 48;
const FIRST_UNREACHABLE = 2 ** (HAW - 12);

function dmaFault(fn: () => unknown): FaultRecord {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DmaFault);
    return (e as DmaFault).record;
  }
  throw new Error('expected a DMA fault');
}

/** The 64-bit little-endian value in guest memory at `gpa`. */
function putGuest(m: ReturnType<typeof vtdMachine>['m'], gpa: bigint, v: bigint): void {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  m.guest.write(gpa, b);
}

function* leaves(t: DumpTable): Generator<unknown> {
  for (const e of t.entries) {
    yield e;
    if (e.child) yield* leaves(e.child);
  }
}

/**
 * Makes the kernel allocations `which` selects land at and above `first` (frames a pointer field
 * cannot hold); frees of those frames are dropped. Nothing is ever written there by the code under
 * test if it refuses before writing, which is what the tests check.
 */
function highFrames(host: HostMemory, which: 'single' | 'multi' | 'both', first = FIRST_UNREACHABLE): void {
  let next = first;
  const realFree = host.freeFrame.bind(host);
  const realFreeN = host.freeFrames.bind(host);
  if (which !== 'multi') vi.spyOn(host, 'allocFrame').mockImplementation(() => next++);
  if (which !== 'single') {
    vi.spyOn(host, 'allocFrames').mockImplementation((count: number, align = 1) => {
      const f = Math.ceil(next / align) * align;
      next = f + count;
      return f;
    });
  }
  vi.spyOn(host, 'freeFrame').mockImplementation((f: number) => (f >= first ? undefined : realFree(f)));
  vi.spyOn(host, 'freeFrames').mockImplementation((f: number, n: number) => (f >= first ? undefined : realFreeN(f, n)));
}

afterEach(() => {
  vi.restoreAllMocks();
});

/** Runs `fn`, expecting it to fail with `errno`, and checks the fd and host memory did not change. */
function refusedCleanly(m: ReturnType<typeof vtdMachine>['m'], fd: IoasidFd, fn: () => unknown, errno: string, message?: RegExp): void {
  const before = fd.describe();
  const frames = m.hostMemory.framesInUse;
  expectErrno(fn, errno, message);
  expect(fd.describe()).toEqual(before);
  expect(m.hostMemory.framesInUse).toBe(frames);
}

describe('no address is truncated into an entry (outputBits = HAW)', () => {
  // QEMU intel_iommu_internal.h: VTD_SPTE_*_RSVD_MASK(aw) / VTD_FPTE_*_RSVD_MASK(aw) reserve every
  // address bit at and above the host address width (VTD_HAW_MASK); this unit's HAW is 48.
  const formats: [string, PtFormat][] = [
    ['second level, 3 levels', new SecondLevelFormat({ levels: 3 })],
    ['second level, 4 levels', new SecondLevelFormat({ levels: 4 })],
    ['second level, 5 levels', new SecondLevelFormat({ levels: 5 })],
    ['first level, 4 levels', new FirstLevelFormat({ levels: 4 })],
    ['first level, 5 levels', new FirstLevelFormat({ levels: 5 })],
  ];

  it('every format states the unit HAW as its output width', () => {
    expect(new VtdUnit(newHost()).haw).toBe(HAW);
    for (const [, fmt] of formats) expect(fmt.outputBits).toBe(HAW);
  });

  for (const [name, fmt] of formats) {
    it(`${name}: a leaf at 2^(HAW-12) frames is refused with ERANGE and memory is unchanged`, () => {
      const host = newHost();
      const t = RadixPageTable.create(host, fmt);
      const frames = host.framesInUse;
      const rootBytes = host.read(t.rootAddr, 4096);
      expectErrno(() => t.map(0, 1, contiguousRuns(FIRST_UNREACHABLE, 1), PROT_READ | PROT_WRITE), 'ERANGE', /48-bit/);
      expect(host.framesInUse).toBe(frames);
      expect(host.read(t.rootAddr, 4096)).toEqual(rootBytes);
      expect(t.tableCount).toBe(1);
      // A 2 MiB leaf whose last frame would be out of reach is refused the same way.
      expectErrno(() => t.map(512, 512, contiguousRuns(FIRST_UNREACHABLE - 256, 512), PROT_READ), 'ERANGE');
      expect(host.framesInUse).toBe(frames);
    });

    it(`${name}: the highest 4 KiB and 2 MiB pages that fit round-trip, and the hardware walk reaches them`, () => {
      const host = newHost();
      const unit = new VtdUnit(host);
      const t = RadixPageTable.create(host, fmt);
      const top4k = FIRST_UNREACHABLE - 1;
      const top2m = FIRST_UNREACHABLE - 512;
      t.map(0, 1, contiguousRuns(top4k, 1), PROT_READ | PROT_WRITE);
      t.map(512, 512, contiguousRuns(top2m, 512), PROT_READ | PROT_WRITE);
      expect(t.lookup(0)).toMatchObject({ frame: top4k, shift: 12 });
      expect(t.lookup(512 + 7)).toMatchObject({ frame: top2m + 7, shift: 21 });
      const leaf = t.walk(0).at(-1)!;
      expect(leaf.decoded).toMatchObject({ kind: 'leaf', addr: BigInt(top4k) * 4096n });
      const out = newWalkOut();
      for (const [iovaFrame, frame] of [[0, top4k], [512 + 7, top2m + 7]]) {
        const code =
          fmt instanceof SecondLevelFormat
            ? unit.walker.walkSecondLevel(t.root, fmt.levels, iovaFrame, true, out)
            : unit.walker.walkFirstLevel({ root: Number(t.rootAddr), levels: fmt.levels as 4 | 5, sre: false, wpe: false }, iovaFrame, true, false, out, false);
        expect(code).toBe(0);
        expect(out.frame).toBe(frame);
      }
    });

    it(`${name}: a table the engine would have to put above 2^HAW is refused before its pointer is written`, () => {
      const host = newHost();
      const t = RadixPageTable.create(host, fmt);
      const rootBytes = host.read(t.rootAddr, 4096);
      const frames = host.framesInUse;
      highFrames(host, 'single');
      expectErrno(() => t.map(0, 1, contiguousRuns(0x5000, 1), PROT_READ), 'ERANGE', /table address/);
      vi.restoreAllMocks();
      expect(host.read(t.rootAddr, 4096)).toEqual(rootBytes);
      expect(host.framesInUse).toBe(frames);
    });
  }
});

describe('every table pointer the kernel writes is checked against HAW (ERANGE before writing)', () => {
  function machine() {
    const { m, driver } = vtdMachine();
    const fd = m.openIoasidFd();
    return { m, driver, fd, dev: m.device('dev0') };
  }

  it('root entry CTP: a context table above 2^48 is refused; the root entry stays as it was', () => {
    const { m, driver, fd, dev } = machine();
    const rootEntry = m.hostMemory.read(driver.tables.rootAddr, 16);
    highFrames(m.hostMemory, 'single');
    refusedCleanly(m, fd, () => dev.bindIoasidFd(fd, { label: 'a' }), 'ERANGE', /root entry CTP/);
    vi.restoreAllMocks();
    expect(m.hostMemory.read(driver.tables.rootAddr, 16)).toEqual(rootEntry);
    expect(driver.tables.rid(dev.rid)).toBeUndefined();
    dev.bindIoasidFd(fd, { label: 'a' }); // and with memory in reach it works
  });

  it('context entry PASIDDIRPTR: a PASID directory above 2^48 is refused; no context entry appears', () => {
    const { m, driver, fd, dev } = machine();
    highFrames(m.hostMemory, 'multi');
    refusedCleanly(m, fd, () => dev.bindIoasidFd(fd, { label: 'a' }), 'ERANGE', /PASIDDIRPTR/);
    vi.restoreAllMocks();
    expect(driver.tables.contextEntryAddress(dev.rid)).toBeNull();
  });

  it('PASID directory entry: a PASID table above 2^48 is refused at ATTACH; the directory entry stays empty', () => {
    const { m, driver, fd, dev } = machine();
    dev.bindIoasidFd(fd, { label: 'a' });
    const ioasid = fd.alloc({ protocol: 'map' });
    highFrames(m.hostMemory, 'single');
    refusedCleanly(m, fd, () => dev.attachIoasid(ioasid), 'ERANGE', /PASID directory entry PTP/);
    vi.restoreAllMocks();
    expect(driver.tables.dirEntry(dev.rid, 0)?.p).toBe(false);
    dev.attachIoasid(ioasid);
  });

  it('PASID entry SLPTPTR: a second-level root above 2^48 is refused at ALLOC', () => {
    const { m, fd } = machine();
    highFrames(m.hostMemory, 'single');
    refusedCleanly(m, fd, () => fd.alloc({ protocol: 'map' }), 'ERANGE', /SLPTPTR/);
  });

  it('a second-level table above 2^48 is refused at MAP_DMA (the engine checks the format output width)', () => {
    const { m, fd } = machine();
    const ioasid = fd.alloc({ protocol: 'map' });
    const va = m.vmm.mmap(0x1000n);
    m.vmm.write(va, new Uint8Array([1])); // populated before: the failed MAP_DMA must leave it as it was
    highFrames(m.hostMemory, 'single');
    refusedCleanly(m, fd, () => fd.mapDma({ ioasid, iova: 0x40000000n, vaddr: va, size: 0x1000n, read: true, write: true }), 'ERANGE', /table address/);
  });

  for (const [what, which, skip, field] of [
    ['RTADDR_REG', 'single', 0, /RTADDR/],
    ['IQA_REG', 'multi', 0, /IQA/],
    ['PQA_REG', 'multi', 1, /PQA/],
  ] as const) {
    it(`${what}: bring-up refuses a structure above 2^48 before writing the register`, () => {
      const host = newHost();
      const injector = new AllocInjector();
      // Let `skip` contiguous allocations through, then put the next ones out of reach.
      const realN = host.allocFrames.bind(host);
      let seen = 0;
      highFrames(host, which);
      if (which === 'multi') {
        let next = FIRST_UNREACHABLE;
        vi.spyOn(host, 'allocFrames').mockImplementation((count: number, align = 1) => {
          if (seen++ < skip) return realN(count, align);
          const f = Math.ceil(next / align) * align;
          next = f + count;
          return f;
        });
      }
      const ctx = { hostMemory: host, injector, options: {} } as unknown as MachineContext;
      expectErrno(() => new VtdDriver(ctx), 'ERANGE', field);
    });
  }
});

/** A nested child over a parent that maps guest RAM at GPA 0; the guest's tables are written by hand. */
function nested(levels: 4 | 5, guestMemory = 16n * MiB) {
  const { m, driver } = vtdMachine({ guestMemory, vtdAddressWidth: levels === 5 ? 57 : 48 });
  const fd = m.openIoasidFd();
  const dev = m.device('dev0');
  dev.bindIoasidFd(fd, { label: 'vf' });
  const parent = fd.alloc({ protocol: 'map' });
  fd.mapDma({ ioasid: parent, iova: 0n, vaddr: m.guest.vaddr, size: m.guest.size, read: true, write: true });
  dev.attachIoasid(parent);
  const child = fd.createNesting({ parent, protocol: 'user-pgtable' });
  dev.attachIoasid(child);
  const bind = (root: bigint) => {
    fd.bindPgtable({ ioasid: child, addr: root, format: { kind: 'vtd-first-level', levels } });
    fd.invalidateCache({ ioasid: child, all: true });
  };
  const read = (gva: bigint) => dev.dmaRead(gva, 1);
  return { m, driver, fd, dev, parent, child, bind, read };
}

/** Guest table pages used below: page k at GPA 0x100000 + k·4 KiB. */
const PAGE = (k: number) => 0x100000n + BigInt(k) * 0x1000n;
/** Present, writable, user, accessed: what a guest kernel writes in a directory entry. */
const DIR = 0x27n;

describe('bounded views of a hostile guest first-level table (DESIGN §7)', () => {
  for (const levels of [4, 5] as const) {
    it(`${levels} levels, every entry of the top table points at itself: DUMP stops at its budget and says so; LOOKUP and DMA end`, () => {
      const { m, fd, child, bind, read } = nested(levels);
      for (let i = 0; i < 512; i++) putGuest(m, PAGE(0) + BigInt(i * 8), PAGE(0) | DIR);
      bind(PAGE(0));
      const t0 = performance.now();
      const d = fd.dumpPgtable(child);
      expect(d.context?.truncated).toBe(true);
      expect([...leaves(d.root!)].length).toBeLessThanOrEqual(DUMP_ENTRIES);
      expect(performance.now() - t0).toBeLessThan(10_000);
      // Read as a page at the last level, the table maps itself: the walk is `levels` steps, as the hardware's.
      const gva = 0x1000n;
      const v = fd.lookup(child, gva);
      expect(v.steps.filter((s) => s.stage?.startsWith('first-level'))).toHaveLength(levels);
      expect(v.output).not.toBeNull();
      expect(read(gva)).toHaveLength(1);
    });

    it(`${levels} levels, a cycle across levels (each level points back at the one above): DUMP truncates, LOOKUP and DMA agree`, () => {
      const { m, fd, child, bind, dev } = nested(levels);
      for (let k = 0; k < levels; k++) for (let i = 0; i < 512; i++) putGuest(m, PAGE(k) + BigInt(i * 8), PAGE(k === 0 ? levels - 1 : k - 1) | DIR);
      bind(PAGE(0));
      expect(fd.dumpPgtable(child).context?.truncated).toBe(true);
      for (const gva of [0n, 0x12345000n, 0x7ffffffff000n]) agree(fd, child, dev, m, gva);
    });

    it(`${levels} levels, pointers into the parent's holes and beyond guest RAM: LOOKUP reports the fault, DMA faults with the VT-d record`, () => {
      const { m, fd, child, bind, read } = nested(levels);
      // PML4E/PML5E 0: a table in a hole the parent does not map (beyond 16 MiB of guest RAM).
      putGuest(m, PAGE(0), 0x4000000n | DIR);
      // Entry 1: beyond what the second level translates at all (2^47 < 2^AW for 48; 2^56 for 57).
      putGuest(m, PAGE(0) + 8n, (levels === 4 ? 1n << 47n : 1n << 47n) | DIR);
      // Entry 2: an address above HAW: reserved bits, whatever the parent maps.
      putGuest(m, PAGE(0) + 16n, (1n << 50n) | DIR);
      bind(PAGE(0));
      const span = 1n << BigInt(12 + 9 * (levels - 1));
      const hole = fd.lookup(child, 0n);
      expect(hole.output).toBeNull();
      // Nested, the table's GPA is walked in the second stage, whose entry there is not present (VT-d §7.1.3, 79h).
      expect(hole.fault).toMatch(/^SS_PAGING_ENTRY_P: .*does not map/);
      expect(dmaFault(() => read(0n))).toMatchObject({ name: 'SS_PAGING_ENTRY_P', stage: 'second-level (first-level table fetch)' });
      expect(fd.lookup(child, span).fault).toMatch(/^SS_PAGING_ENTRY_P: .*does not map/);
      expect(dmaFault(() => read(span)).name).toBe('SS_PAGING_ENTRY_P');
      expect(fd.lookup(child, 2n * span).fault).toMatch(/FS_PAGING_ENTRY_RSVD/);
      expect(dmaFault(() => read(2n * span)).name).toBe('FS_PAGING_ENTRY_RSVD');
      // The dump shows the entries and nothing below the unreachable tables.
      const d = fd.dumpPgtable(child);
      expect(d.context?.truncated).toBe(false);
      expect(d.root!.entries.map((e) => e.child?.entries.length ?? 0)).toEqual([0, 0, 0]);
    });
  }

  it('a non-canonical input: LOOKUP says FS_NON_CANONICAL, as the DMA does', () => {
    const { m, fd, child, bind, read } = nested(4);
    putGuest(m, PAGE(0), PAGE(0) | DIR);
    bind(PAGE(0));
    const gva = 0x0000800000000000n;
    expect(fd.lookup(child, gva).fault).toMatch(/FS_NON_CANONICAL/);
    expect(dmaFault(() => read(gva)).name).toBe('FS_NON_CANONICAL');
  });

  it('LOOKUP and DMA agree on every random table (same fault/translation, same page)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(4 as const, 5 as const),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 511 }), fc.oneof(entryValue(), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }))), { minLength: 1, maxLength: 80 }),
        fc.array(gvaValue(), { minLength: 1, maxLength: 12 }),
        (levels, writes, gvas) => {
          const { m, fd, child, bind, dev } = nested(levels);
          for (const [k, i, v] of writes) putGuest(m, PAGE(k) + BigInt(i * 8), v);
          bind(PAGE(0));
          for (const gva of gvas) agree(fd, child, dev, m, gva);
          const d = fd.dumpPgtable(child);
          expect([...leaves(d.root!)].length).toBeLessThanOrEqual(DUMP_ENTRIES);
        },
      ),
      { numRuns: 40 },
    );
  });
});

/** Entries a fuzzer should try: pointers to the other table pages, to holes, above HAW, with flag bits. */
function entryValue(): fc.Arbitrary<bigint> {
  const targets = [PAGE(0), PAGE(1), PAGE(2), PAGE(3), PAGE(4), 0x4000000n, 1n << 47n, 1n << 50n, 0x200000n, 0n];
  return fc.tuple(fc.constantFrom(...targets), fc.integer({ min: 0, max: 0xfff })).map(([a, flags]) => a | BigInt(flags | 1));
}

function gvaValue(): fc.Arbitrary<bigint> {
  return fc.oneof(
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 511 })).map(([l, i]) => BigInt(i) << BigInt(12 + 9 * l)),
  );
}

/** LOOKUP (an unprivileged read) and the unit agree: both fault, or both give the same host page. */
function agree(fd: IoasidFd, child: number, dev: { rid: number }, m: ReturnType<typeof vtdMachine>['m'], gva: bigint): void {
  let v: LookupView;
  try {
    v = fd.lookup(child, gva);
  } catch (e) {
    expect(e).toBeInstanceOf(IoasidError);
    return;
  }
  fd.invalidateCache({ ioasid: child, all: true });
  const r = m.driver.translate({ rid: dev.rid, pasid: -1, iovaFrame: Number(gva >> 12n), write: false, privileged: false });
  if (typeof r === 'number') {
    expect(v.output, `LOOKUP ${gva.toString(16)}: ${v.fault}`).not.toBeNull();
    expect(Number(v.output! >> 12n)).toBe(r);
  } else {
    expect(v.output, `LOOKUP ${gva.toString(16)} gave a page, the unit faulted ${r.name}`).toBeNull();
  }
}

describe('second-level views', () => {
  it('LOOKUP beyond the address width is a fault, not the page its index wraps to', () => {
    const { m } = vtdMachine();
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd, { label: 'a' });
    const ioasid = fd.alloc({ protocol: 'map' });
    dev.attachIoasid(ioasid);
    const va = m.vmm.mmap(0x1000n);
    fd.mapDma({ ioasid, iova: 0x3000n, vaddr: va, size: 0x1000n, read: true, write: true });
    expect(fd.lookup(ioasid, 0x3000n).output).not.toBeNull();
    for (const iova of [(1n << 48n) + 0x3000n, (1n << 63n) + 0x3000n, (1n << 64n) - 0x1000n]) {
      const v = fd.lookup(ioasid, iova);
      expect(v.output).toBeNull();
      expect(v.fault).toMatch(/^SM_ADDR_BEYOND_MGAW/);
      expect(dmaFault(() => dev.dmaRead(iova, 1)).name).toBe('SM_ADDR_BEYOND_MGAW'); // VT-d §7.1.3, 83h
    }
  });

  it('DUMP of a second-level table with more 4 KiB pages than the budget stops and says so', () => {
    const { m } = vtdMachine();
    const fd = m.openIoasidFd();
    const ioasid = fd.alloc({ protocol: 'map' });
    const small = m.vmm.mmap(0x4000n);
    fd.mapDma({ ioasid, iova: 0n, vaddr: small, size: 0x4000n, read: true, write: true });
    expect(fd.dumpPgtable(ioasid).context?.truncated).toBe(false);
    const size = BigInt(DUMP_ENTRIES + 512) * 4096n;
    const va = m.vmm.mmap(size); // scattered frames: 4 KiB leaves only
    fd.mapDma({ ioasid, iova: 1n << 32n, vaddr: va, size, read: true, write: true });
    const d = fd.dumpPgtable(ioasid);
    expect(d.context?.truncated).toBe(true);
    expect([...leaves(d.root!)].length).toBeLessThanOrEqual(DUMP_ENTRIES);
  });
});

describe('domain IDs: O(1), limited by CAP_REG.ND, clean ENOSPC', () => {
  it('CAP_REG.ND = 6 gives 2^16 domain IDs; DID 0 is reserved, so 65535 address spaces, then ENOSPC changing nothing', () => {
    const { m, driver } = vtdMachine();
    expect(driver.dids.capacity).toBe(65535);
    // One fd holds at most 65535 IOASIDs itself, so two fds share the unit's domain IDs.
    const a = m.openIoasidFd();
    const b = m.openIoasidFd();
    const first: number[] = [];
    for (let i = 0; i < 40000; i++) first.push(a.alloc({ protocol: 'map' }));
    const parent = b.alloc({ protocol: 'map' });
    while (driver.dids.available > 0) b.alloc({ protocol: 'map' });
    refusedCleanly(m, b, () => b.alloc({ protocol: 'map' }), 'ENOSPC', /all 65535 domain IDs are in use/);
    refusedCleanly(m, b, () => b.createNesting({ parent, protocol: 'user-pgtable' }), 'ENOSPC', /domain ID/);
    a.free(first[123]);
    expect(typeof b.alloc({ protocol: 'map' })).toBe('number');
    refusedCleanly(m, b, () => b.alloc({ protocol: 'map' }), 'ENOSPC', /domain ID/);
    a.close();
    b.close();
    expect(driver.dids.inUse).toBe(0);
  });

  it('host memory running out first ends ALLOC with a clean ENOMEM, and FREE makes room again', () => {
    const { m } = vtdMachine({ hostMemory: 64n * MiB, guestMemory: 4n * MiB });
    const fd = m.openIoasidFd();
    const ids: number[] = [];
    for (;;) {
      try {
        ids.push(fd.alloc({ protocol: 'map' }));
      } catch (e) {
        expect(e).toBeInstanceOf(IoasidError);
        expect((e as IoasidError).errno).toBe('ENOMEM');
        break;
      }
    }
    expect(ids.length).toBeGreaterThan(1000);
    refusedCleanly(m, fd, () => fd.alloc({ protocol: 'map' }), 'ENOMEM', /host memory/);
    fd.free(ids[7]);
    expect(typeof fd.alloc({ protocol: 'map' })).toBe('number');
  });
});

describe('user input never raises anything but IoasidError / DmaFault', () => {
  it('IOVAs near 2^64 in DMA, LOOKUP and INVALIDATE_CACHE, odd bind formats', () => {
    const { m, fd, child, parent, dev } = nested(4);
    fd.bindPgtable({ ioasid: child, addr: PAGE(0), format: { kind: 'vtd-first-level', levels: 4 } });
    const near = [(1n << 64n) - 1n, (1n << 64n) - 0x1000n, 1n << 63n, (1n << 57n) - 1n, 1n << 57n, 1n << 48n];
    for (const iova of near) {
      for (const id of [parent, child]) {
        expect(() => fd.lookup(id, iova)).not.toThrow();
        for (const size of [1n, 0x1000n, (1n << 64n) - 1n, (1n << 64n) - iova]) {
          try {
            fd.invalidateCache({ ioasid: id, iova, size });
          } catch (e) {
            expect(e).toBeInstanceOf(IoasidError); // a range past 2^64: EOVERFLOW
          }
        }
      }
      try {
        dev.dmaRead(iova, 2);
      } catch (e) {
        expect(e instanceof DmaFault || e instanceof IoasidError).toBe(true);
      }
    }
    for (const levels of [99, 3, 6, 4.5, '4', -1, null, undefined, 4n]) {
      expectErrno(() => fd.bindPgtable({ ioasid: child, addr: PAGE(0), format: { kind: 'vtd-first-level', levels } as never }), 'EINVAL', /levels/);
    }
    for (const format of [null, 7, 'vtd-first-level', {}, { kind: 'arm-lpae-s1', levels: 4 }, []]) {
      expectErrno(() => fd.bindPgtable({ ioasid: child, addr: PAGE(0), format: format as never }), 'EINVAL');
    }
    for (const addr of [1n << 48n, (1n << 64n) - 0x1000n]) expectErrno(() => fd.bindPgtable({ ioasid: child, addr, format: { kind: 'vtd-first-level', levels: 4 } }), 'EINVAL', /addr/);
    void m;
  });
});
