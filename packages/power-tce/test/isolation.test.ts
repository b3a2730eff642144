import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  contiguousRuns,
  DmaFault,
  entryHalves,
  IoasidError,
  PROT_READ,
  PROT_WRITE,
  RadixPageTable,
  type DmaRequest,
  type DumpTable,
  type HostMemory,
  type IoasidFd,
} from '@ioasid/core';
import {
  decodeTve,
  defaultWindow,
  dynamicWindow,
  encodeTce,
  Phb4,
  Phb4Firmware,
  PHB_RTT_BAR,
  TceFormat,
  type TceWindowDomain,
  type WindowGeometry,
} from '../src/index.js';
import { DUMP_ENTRIES } from '../src/tce-window.js';
import { DDW, expectErrno, KiB, MiB, newHost, powerMachine } from './helpers.js';

/**
 * Issue 15 (isolation) on POWER: no real address is truncated into a TCE or a PHB pointer, the
 * DUMP of a huge window is bounded, PE numbers are O(log n) with a clean ENOSPC, and window
 * arguments of any type give EINVAL naming the field.
 */

/** asm/tce.h: TCE_RPN_MASK is 40 bits of 4 KiB page number, so real addresses below 2^52. */
const TCE_BITS = 52;
const FIRST_UNREACHABLE = 2 ** (TCE_BITS - 12);
const PE = 7;
const RID = 0x0108;

afterEach(() => {
  vi.restoreAllMocks();
});

/** Kernel allocations of `host` land at and above frame `first`; frees of those are dropped (see the VT-d twin of this test). */
function highFrames(host: HostMemory, first: number): void {
  let next = first;
  const realFree = host.freeFrame.bind(host);
  const realFreeN = host.freeFrames.bind(host);
  vi.spyOn(host, 'allocFrame').mockImplementation(() => next++);
  vi.spyOn(host, 'allocFrames').mockImplementation((count: number, align = 1) => {
    const f = Math.ceil(next / align) * align;
    next = f + count;
    return f;
  });
  vi.spyOn(host, 'freeFrame').mockImplementation((f: number) => (f >= first ? undefined : realFree(f)));
  vi.spyOn(host, 'freeFrames').mockImplementation((f: number, n: number) => (f >= first ? undefined : realFreeN(f, n)));
}

function formatOf(w: WindowGeometry): TceFormat {
  return new TceFormat({ pageShift: w.pageShift, levels: w.levels, levelBits: w.levelBits });
}

function req(iova: bigint, write = false): DmaRequest {
  return { rid: RID, pasid: -1, iovaFrame: Number(iova >> 12n), write, privileged: false };
}

function* entries(t: DumpTable): Generator<unknown> {
  for (const e of t.entries) {
    yield e;
    if (e.child) yield* entries(e.child);
  }
}

function refusedCleanly(m: ReturnType<typeof powerMachine>['m'], fd: IoasidFd, fn: () => unknown, errno: string, message?: RegExp): void {
  const before = fd.describe();
  const frames = m.hostMemory.framesInUse;
  const regs = m.iommu.registers();
  expectErrno(fn, errno, message);
  expect(fd.describe()).toEqual(before);
  expect(m.hostMemory.framesInUse).toBe(frames);
  expect(m.iommu.registers()).toEqual(regs);
}

const WINDOWS: [string, WindowGeometry][] = [
  ['default window (1 level, 4 KiB pages)', defaultWindow()],
  ['DDW of 2^40 bytes, 64 KiB pages, 2 levels', dynamicWindow({ pageSize: 64n * KiB, size: 1n << 40n, levels: 2 })],
  ['DDW of 2^48 bytes, 4 KiB pages, 3 levels', dynamicWindow({ pageSize: 4n * KiB, size: 1n << 48n, levels: 3 })],
];

describe('no real address is truncated into a TCE (outputBits = 52)', () => {
  for (const [name, w] of WINDOWS) {
    const fmt = formatOf(w);
    const pageFrames = 2 ** (w.pageShift - 12);

    it(`${name}: a leaf at 2^40 frames is refused with ERANGE and memory is unchanged`, () => {
      expect(fmt.outputBits).toBe(TCE_BITS);
      const host = newHost();
      const t = RadixPageTable.create(host, fmt);
      const frames = host.framesInUse;
      const root = host.read(t.rootAddr, 4096);
      expectErrno(() => t.map(0, pageFrames, contiguousRuns(FIRST_UNREACHABLE, pageFrames), PROT_READ | PROT_WRITE), 'ERANGE', /52-bit/);
      expect(host.framesInUse).toBe(frames);
      expect(host.read(t.rootAddr, 4096)).toEqual(root);
      expect(t.tableCount).toBe(1);
    });

    it(`${name}: the highest IO page that fits round-trips through the TCE and the PHB walk`, () => {
      const host = newHost();
      const phb = new Phb4(host);
      const fw = new Phb4Firmware(phb, host);
      fw.setPe(PE, RID, true);
      const t = RadixPageTable.create(host, fmt);
      const top = FIRST_UNREACHABLE - pageFrames;
      t.map(0, pageFrames, contiguousRuns(top, pageFrames), PROT_READ | PROT_WRITE);
      expect(t.lookup(0)).toMatchObject({ frame: top });
      expect(t.walk(0).at(-1)!.decoded).toMatchObject({ kind: 'leaf', addr: BigInt(top) * 4096n });
      fw.mapPeDmaWindow(PE, PE * 2 + w.select, w.levels, t.rootAddr, w.tableSize, 1n << BigInt(w.pageShift));
      expect(phb.translate(req(w.busStart + BigInt(pageFrames - 1) * 4096n, true))).toBe(top + pageFrames - 1);
    });

    if (w.levels > 1) {
      it(`${name}: an indirect TCE to a level above 2^52 is refused before it is written`, () => {
        const host = newHost();
        const t = RadixPageTable.create(host, fmt);
        const root = host.read(t.rootAddr, Number(w.tableSize));
        highFrames(host, FIRST_UNREACHABLE);
        expectErrno(() => t.map(0, pageFrames, contiguousRuns(0x10000, pageFrames), PROT_READ), 'ERANGE', /table address/);
        vi.restoreAllMocks();
        expect(host.read(t.rootAddr, Number(w.tableSize))).toEqual(root);
      });
    }
  }

  it('a TCE whose real address has bit 31 set decodes to that address (a 32-bit AND is signed)', () => {
    const fmt = formatOf(defaultWindow());
    const w = new Uint32Array(2);
    fmt.setLeaf(w, 0, 0, 0x80000 + 0x12345, PROT_READ | PROT_WRITE); // 0x9234_5000
    const [lo, hi] = entryHalves(fmt, w, 0);
    expect(fmt.decode(lo, hi, 0)).toMatchObject({ kind: 'leaf', addr: 0x92345000n });
  });

  it('encodeTce refuses an address the RPN field cannot hold instead of masking it', () => {
    expect(encodeTce(BigInt(FIRST_UNREACHABLE - 1) * 4096n, 3)).toBe(((1n << 52n) - 4096n) | 3n);
    for (const addr of [1n << 52n, 1n << 63n, -4096n, 0x1800n]) expectErrno(() => encodeTce(addr, 1), 'ERANGE');
  });
});

describe('PHB pointers: RTT BAR and TVE table address refuse what their fields cannot hold', () => {
  it('PHB_RTT_BASE_ADDRESS holds address bits 55:17: an RTT at 2^56 is refused and the BAR stays disabled', () => {
    const host = newHost();
    const phb = new Phb4(host);
    highFrames(host, 2 ** 44);
    expectErrno(() => new Phb4Firmware(phb, host), 'ERANGE', /PHB_RTT_BASE_ADDRESS/);
    expect(phb.registers().PHB_RTT_BAR).toBe(0n);
  });

  it('the highest RTT the BAR can hold (2^56 - 128 KiB) is written exactly, with the enable bit', () => {
    const host = newHost();
    const phb = new Phb4(host);
    highFrames(host, 2 ** 44 - 32);
    new Phb4Firmware(phb, host);
    expect(phb.read('PHB_RTT_BAR')).toBe((1n << 63n) | ((1n << 56n) - 0x20000n));
  });

  it('IODA3_TVT_TABLE_ADDR holds address bits 59:12: a table at 2^60 is refused (ERANGE), the TVT unchanged', () => {
    const host = newHost();
    const phb = new Phb4(host);
    const fw = new Phb4Firmware(phb, host);
    const before = phb.registers();
    for (const addr of [1n << 60n, (1n << 64n) - 4096n]) expectErrno(() => fw.mapPeDmaWindow(PE, PE * 2, 1, addr, 0x2000n, 0x1000n), 'ERANGE', /IODA3_TVT_TABLE_ADDR/);
    expect(phb.registers()).toEqual(before);
    fw.mapPeDmaWindow(PE, PE * 2, 1, (1n << 60n) - 4096n, 0x2000n, 0x1000n);
    expect(decodeTve(phb.tveRaw(PE * 2)).tableAddr).toBe((1n << 60n) - 4096n);
  });

  it('ALLOC of a window whose TCE table would sit at 2^60 fails with ERANGE and changes nothing', () => {
    const { m } = powerMachine();
    const fd = m.openIoasidFd();
    m.device('dev0').bindIoasidFd(fd);
    highFrames(m.hostMemory, 2 ** 48);
    refusedCleanly(m, fd, () => fd.alloc({ protocol: 'map', window: { pageSize: 4n * KiB, size: 1n << 32n } }), 'ERANGE', /IODA3_TVT_TABLE_ADDR/);
  });

  it('BIND_IOASID_FD whose default-window table would sit at 2^60 fails with ERANGE and takes no PE', () => {
    const { m, iommu } = powerMachine();
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    highFrames(m.hostMemory, 2 ** 48);
    refusedCleanly(m, fd, () => dev.bindIoasidFd(fd), 'ERANGE', /IODA3_TVT_TABLE_ADDR/);
    vi.restoreAllMocks();
    dev.bindIoasidFd(fd);
    expect(iommu.peOf(dev.desc)).toBe(510);
  });
});

describe('PE numbers: highest free first (pnv_ioda_alloc_pe), O(log n), clean ENOSPC', () => {
  it('with 4 PEs (one reserved) the fourth group is refused with ENOSPC changing nothing; an unbind makes room and its PE# comes back first', () => {
    const devices = [1, 2, 3, 4].map((g) => ({ name: `g${g}`, group: g }));
    const { m, iommu } = powerMachine({ numPes: 4, devices });
    const fd = m.openIoasidFd();
    for (const n of ['g1', 'g2', 'g3']) m.device(n).bindIoasidFd(fd);
    expect(['g1', 'g2', 'g3'].map((n) => iommu.peOf(m.device(n).desc))).toEqual([2, 1, 0]);
    refusedCleanly(m, fd, () => m.device('g4').bindIoasidFd(fd), 'ENOSPC', /all 3 PEs/);
    m.device('g2').unbindIoasidFd();
    m.device('g4').bindIoasidFd(fd);
    expect(iommu.peOf(m.device('g4').desc)).toBe(1);
  });

  it('all 511 PEs of a 512-PE PHB bind, then ENOSPC; each bind costs the same whatever is bound', () => {
    const devices = Array.from({ length: 512 }, (_, g) => ({ name: `d${g}`, group: g, rid: 0x100 + g }));
    const { m, iommu } = powerMachine({ devices });
    const fd = m.openIoasidFd();
    for (let g = 0; g < 511; g++) m.device(`d${g}`).bindIoasidFd(fd);
    expect(iommu.peOf(m.device('d510').desc)).toBe(0);
    refusedCleanly(m, fd, () => m.device('d511').bindIoasidFd(fd), 'ENOSPC', /PE/);
    m.device('d0').unbindIoasidFd();
    m.device('d511').bindIoasidFd(fd);
    expect(iommu.peOf(m.device('d511').desc)).toBe(510);
  });
});

describe('DUMP of a huge window is bounded', () => {
  it('a DDW of 2^40 bytes in 4 KiB TCEs with more pages mapped than the budget: DUMP stops and says so, quickly', () => {
    const { m } = powerMachine();
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd);
    const id = fd.alloc({ protocol: 'map', window: { pageSize: 4n * KiB, size: 1n << 40n } });
    dev.attachIoasid(id);
    const small = m.vmm.mmap(16n * KiB);
    fd.mapDma({ ioasid: id, iova: DDW, vaddr: small, size: 16n * KiB });
    const d0 = fd.dumpPgtable(id);
    expect(d0.context?.truncated).toBe(false);
    expect([...entries(d0.root!)]).toHaveLength(1 + 4);
    const size = 512n * MiB; // 2^17 TCEs, twice the budget
    const va = m.vmm.mmap(size, { hugePages: '2M' });
    fd.mapDma({ ioasid: id, iova: DDW + (1n << 39n), vaddr: va, size });
    const t0 = performance.now();
    const d = fd.dumpPgtable(id);
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(d.context?.truncated).toBe(true);
    expect([...entries(d.root!)].length).toBeLessThanOrEqual(DUMP_ENTRIES);
  });

  it('a page kill over a huge range stays bounded without the HW560152 workaround (one KILL_PE past the TCE cache size)', () => {
    const { m, iommu } = powerMachine({ hw560152: false });
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd);
    const id = fd.alloc({ protocol: 'map', window: { pageSize: 4n * KiB, size: 1n << 48n } });
    dev.attachIoasid(id);
    const va = m.vmm.mmap(8n * KiB);
    fd.mapDma({ ioasid: id, iova: DDW, vaddr: va, size: 8n * KiB });
    dev.dmaRead(DDW, 1);
    expect(iommu.unit.tceCache.entries(510)).toBe(1);
    const t0 = performance.now();
    fd.invalidateCache({ ioasid: id, iova: DDW, size: 1n << 48n }); // 2^36 IO pages
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(iommu.unit.tceCache.entries(510)).toBe(0);
  });
});

describe('window arguments and machine options: EINVAL naming the field, never another exception', () => {
  const sym = Symbol('junk');
  const ok = { pageSize: 4n * KiB, size: 1n << 32n };
  const cases: [field: string, values: unknown[]][] = [
    ['pageSize', [4096, '4096', null, undefined, {}, sym, 0n, -4096n, 3n, 8192n, 1n << 64n, 1n << 100n]],
    ['size', [1 << 30, '1G', null, undefined, [], sym, 0n, -1n, 3n << 30n, 1n << 64n, 1n << 100n, (1n << 64n) - 1n]],
    ['levels', [0, 6, -1, 1.5, NaN, Infinity, '2', 2n, null, {}, sym]],
  ];
  for (const [field, values] of cases) {
    it(`window.${field}: junk types, zero, non-powers of two and sizes past the 64-bit bus space`, () => {
      const { m } = powerMachine();
      const fd = m.openIoasidFd();
      for (const v of values) {
        refusedCleanly(m, fd, () => fd.alloc({ protocol: 'map', window: { ...ok, [field]: v } } as never), 'EINVAL', new RegExp(`window\\.${field}`));
      }
    });
  }

  it('window itself must be an object', () => {
    const { m } = powerMachine();
    const fd = m.openIoasidFd();
    for (const w of [null, 5, 'ddw', [], true, sym]) refusedCleanly(m, fd, () => fd.alloc({ protocol: 'map', window: w } as never), 'EINVAL', /window/);
  });

  it('numPes and hw560152 machine options', () => {
    for (const numPes of [0, 1, 3, -2, 1.5, NaN, 1024, 2 ** 40, '512', null, 513]) expectErrno(() => powerMachine({ numPes }), 'EINVAL', /numPes/);
    for (const numPes of [2, 256, 512]) expect(powerMachine({ numPes }).iommu.unit.numPes).toBe(numPes);
    for (const hw560152 of [1, 'yes', null]) expectErrno(() => powerMachine({ hw560152 }), 'EINVAL', /hw560152/);
  });

  it('IOVAs near 2^64 in DMA, LOOKUP, MAP, UNMAP and INVALIDATE_CACHE', () => {
    const { m } = powerMachine();
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd);
    const id = fd.alloc({ protocol: 'map', window: { pageSize: 4n * KiB, size: 1n << 40n } });
    dev.attachIoasid(id);
    const va = m.vmm.mmap(4n * KiB);
    for (const iova of [(1n << 64n) - 1n, (1n << 64n) - 4096n, 1n << 63n, 1n << 60n, DDW + (1n << 40n), DDW - 4096n]) {
      m.driver.resetDevice!(dev.desc);
      expect(fd.lookup(id, iova).output).toBeNull();
      const e = (() => {
        try {
          dev.dmaRead(iova, 1);
        } catch (err) {
          return err;
        }
      })();
      expect(e).toBeInstanceOf(DmaFault);
      // Below bit 59 the DDW-only IOASID has no window: its PE's TVE 2·PE is zero while attached.
      expect((e as DmaFault).record.name).toBe(iova === DDW - 4096n ? 'TVE_INVALID' : 'OUT_OF_WINDOW');
      for (const call of [
        () => fd.mapDma({ ioasid: id, iova, vaddr: va, size: 4n * KiB }),
        () => fd.unmapDma({ ioasid: id, iova, size: 4n * KiB }),
        () => fd.invalidateCache({ ioasid: id, iova, size: 4n * KiB }),
        () => fd.invalidateCache({ ioasid: id, iova, size: (1n << 64n) - 1n }),
      ]) {
        try {
          call();
        } catch (err) {
          expect(err).toBeInstanceOf(IoasidError);
        }
      }
    }
    void (null as unknown as TceWindowDomain);
  });
});
