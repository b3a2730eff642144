import { describe, expect, it } from 'vitest';
import { AllocInjector, HostMemory, IoasidError, RadixPageTable, contiguousRuns, createMachine, type IoasidFd, type Machine } from '@ioasid/core';
import { CommandQueue } from '../src/cmdq.js';
import {
  CdTable,
  IDR5,
  StreamTable,
  directSpace,
  encodeCd,
  encodeSte,
  lpaeStage1Format,
  lpaeStage2Format,
  regField,
  type SmmuV3Driver,
} from '../src/index.js';
import { bareUnit } from './hw-harness.js';
import { gpaSpace, open, smmuMachine } from './machine-helpers.js';

// Issue 15, finding 5 (DESIGN §4: "A frame number is never truncated into an entry: an address an
// entry cannot hold is refused before anything is written"), and the other inputs a user controls.

function expectErrno(f: () => unknown, errno: string, re?: RegExp): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(IoasidError);
    expect((e as IoasidError).errno).toBe(errno);
    if (re) expect((e as Error).message).toMatch(re);
    return;
  }
  throw new Error(`expected ${errno}`);
}

function snapshot(m: Machine, fd: IoasidFd): string {
  return JSON.stringify({ fd: fd.describe(), frames: m.hostMemory.framesInUse }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}

describe('finding 5: LPAE entries hold at most the OAS (PtFormat.outputBits); the engine refuses more with ERANGE', () => {
  for (const [stage, make] of [[1, lpaeStage1Format], [2, lpaeStage2Format]] as const) {
    it(`stage ${stage}, 48-bit OAS: a leaf at frame 2^(48−12) is refused and nothing is written; frame 2^36 − 1 maps`, () => {
      const host = new HostMemory(new AllocInjector());
      const fmt = make(4096, 48, 48);
      expect(fmt.outputBits).toBe(48);
      const t = RadixPageTable.create(host, fmt);
      const frames = host.framesInUse;
      const root = host.read(BigInt(t.root) * 4096n, 4096);
      expectErrno(() => t.map(0, 1, contiguousRuns(2 ** 36, 1), 3), 'ERANGE', /48-bit output address/);
      expect(host.framesInUse).toBe(frames); // the tables made for the walk down are gone again
      expect(host.read(BigInt(t.root) * 4096n, 4096)).toEqual(root);
      expect(t.tableCount).toBe(1);
      expect(t.lookup(0)).toBeNull();
      // 512 pages whose last 256 would lie at 2^36 and above: refused as a whole, the first 256 undone.
      expectErrno(() => t.map(512, 512, contiguousRuns(2 ** 36 - 256, 512), 3), 'ERANGE');
      expect(host.framesInUse).toBe(frames);
      expect(t.lookup(512)).toBeNull();
      expect(host.read(BigInt(t.root) * 4096n, 4096)).toEqual(root);
      t.map(0, 1, contiguousRuns(2 ** 36 - 1, 1), 3);
      expect(t.lookup(0)!.frame).toBe(2 ** 36 - 1);
    });
  }

  it('descriptors without FEAT_LPA hold OA[47:12]: a 52-bit OAS still gives 48-bit entries', () => {
    expect(lpaeStage2Format(65536, 48, 52).outputBits).toBe(48);
    expect(lpaeStage1Format(4096, 48, 40).outputBits).toBe(40);
    expectErrno(() => lpaeStage1Format(4096, 48, 12), 'EINVAL');
  });

  for (const oasBits of [32, 36, 40, 42, 44, 48, 52]) {
    it(`OAS ${oasBits} (SMMU_IDR5.OAS): the kernel's stage 2 and stage 1 formats hold ${Math.min(oasBits, 48)}-bit output addresses`, () => {
      const m = createMachine({ vendor: 'arm-smmuv3', devices: [{ name: 'dev0' }], smmuv3: { features: { oasBits } } });
      const drv = m.driver as SmmuV3Driver;
      expect([32, 36, 40, 42, 44, 48, 52][regField(m.iommu.registers().IDR5, IDR5.OAS)]).toBe(oasBits);
      expect(drv.s2Format.outputBits).toBe(Math.min(oasBits, 48));
      expect(drv.s1CopyFormat.outputBits).toBe(Math.min(oasBits, 48));
    });
  }

  it('OAS 32: MAP_DMA of memory above 4 GiB is refused with ERANGE and nothing changes; memory below maps', () => {
    const { m } = smmuMachine({ smmuv3: { features: { oasBits: 32 } } } as never);
    const { fd, devs } = open(m, 'dev0');
    const ioasid = fd.alloc({ protocol: 'map' });
    devs[0].attachIoasid(ioasid);
    // Six 1 GiB huge-page regions: some of them lie above 2^32 in host memory.
    const regions = Array.from({ length: 6 }, () => m.vmm.mmap(1n << 30n, { hugePages: '1G' }));
    let refusedCount = 0;
    regions.forEach((vaddr, i) => {
      const iova = BigInt(i + 1) << 30n;
      const before = snapshot(m, fd);
      try {
        fd.mapDma({ ioasid, iova, vaddr, size: 1n << 30n, read: true, write: true });
      } catch (e) {
        expect(e).toBeInstanceOf(IoasidError);
        expect((e as IoasidError).errno).toBe('ERANGE');
        expect(snapshot(m, fd)).toBe(before);
        refusedCount++;
        return;
      }
      expect(fd.lookup(ioasid, iova).output! < 1n << 32n).toBe(true);
    });
    expect(refusedCount).toBeGreaterThan(0);
  });
});

describe('finding 5: table pointers the kernel writes are refused (ERANGE) before anything is written', () => {
  it('STE.S2TTB / S1ContextPtr and CD.TTB0 refuse an address their field cannot hold (not a RangeError)', () => {
    expectErrno(() => encodeSte({ V: 1, S2TTB: 2 ** 52 }), 'ERANGE', /S2TTB/);
    expectErrno(() => encodeSte({ V: 1, S1ContextPtr: 2 ** 52 }), 'ERANGE', /S1ContextPtr/);
    expectErrno(() => encodeSte({ V: 1, S1ContextPtr: 0x1020 }), 'EINVAL', /S1ContextPtr/); // [51:6]: 64-byte aligned
    expectErrno(() => encodeCd({ V: 1, TTB0: 2 ** 52 }), 'ERANGE', /TTB0/);
    expect(() => encodeSte({ V: 1, S2TTB: 2 ** 52 - 16 })).not.toThrow();
  });

  /** A host whose next allocation lands at 4 GiB (frame 2^20): records frees and writes. */
  function highHost() {
    const freed: [number, number][] = [];
    let writes = 0;
    const host = {
      allocFrames: (_n: number) => 2 ** 20,
      freeFrames: (f: number, n: number) => freed.push([f, n]),
      write: () => writes++,
      wordsForWrite: () => {
        writes++;
        return new Uint32Array(1024);
      },
      wordsForRead: () => new Uint32Array(1024),
      wordBase: () => 0,
      u32: () => 0,
    };
    return { host: host as unknown as HostMemory, freed, writes: () => writes };
  }

  it('STRTAB_BASE and L1STD.L2Ptr beyond a 32-bit OAS: ERANGE, the frames go back, nothing is written', () => {
    const h = highHost();
    expectErrno(() => new StreamTable(h.host, { twoLevel: true, log2size: 16, addrBits: 32 }), 'ERANGE', /STRTAB_BASE/);
    expect(h.freed).toHaveLength(1);
    expect(h.writes()).toBe(0);
  });

  it('S1ContextPtr (CD table) and L1CD.L2Ptr beyond the space\'s address size: ERANGE, the frames go back', () => {
    const h = highHost();
    expectErrno(() => CdTable.create(directSpace(h.host, 32), 'linear', 4), 'ERANGE', /S1ContextPtr/);
    expect(h.freed).toEqual([[2 ** 20, 1]]);
    // A two-level table whose root is low but whose leaf would be high.
    const host = new HostMemory(new AllocInjector());
    let calls = 0;
    const space = {
      mem: host,
      addrBits: 32,
      alloc: (frames: number) => {
        const frame = host.allocFrames(frames, 1);
        return { frame, addr: calls++ === 0 ? frame * 4096 : 2 ** 32 };
      },
      free: (frame: number, frames: number) => host.freeFrames(frame, frames),
    };
    const t = CdTable.create(space, 'two-level', 12);
    const frames = host.framesInUse;
    expectErrno(() => t.write(5, new Uint32Array(16)), 'ERANGE', /L1CD_L2PTR/);
    expect(host.framesInUse).toBe(frames);
    expect(t.l1Descriptor(0)).toEqual({ valid: false, l2ptr: 0 });
  });

  it('CMDQ_BASE beyond the OAS: ERANGE before the register is written', () => {
    const b = bareUnit();
    const base = b.unit.read('CMDQ_BASE');
    const h = highHost();
    expectErrno(() => new CommandQueue(h.host, b.unit, 8, 32), 'ERANGE', /CMDQ_BASE/);
    expect(b.unit.read('CMDQ_BASE')).toBe(base);
    expect(h.freed).toHaveLength(1);
  });
});

describe('other user input: bind formats, guest helpers and machine options refuse with EINVAL naming the argument', () => {
  /** A guest CD table child of a fresh IOASID, attached to dev0. */
  function child(smmuv3?: object) {
    const { m } = smmuMachine(smmuv3 ? ({ smmuv3 } as never) : {});
    const { fd, devs } = open(m, 'dev0');
    const parent = gpaSpace(m, fd, devs);
    const c = fd.createNesting({ parent, protocol: 'user-pasid-table' });
    devs[0].attachIoasid(c);
    return { m, fd, c };
  }

  it('stage 1 formats of guest CDs: odd parameters and unknown keys are EINVAL naming them; a CD with a granule IDR5 does not offer is C_BAD_CD (CD.TG0, SMMUv3 §5.4)', () => {
    const { m, fd, c } = child({ features: { granules: [4096, 65536] } });
    expect(fd.getInfo(c).formats).toEqual([
      { kind: 'arm-lpae-s1', granule: 4096, ias: 48 },
      { kind: 'arm-lpae-s1', granule: 65536, ias: 48 },
    ]);
    const g = m.driver.guest!;
    const ok = { kind: 'arm-lpae-s1', granule: 4096, ias: 48 };
    const cd = { kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: 2 };
    const t = m.guest.createPageTable(g.pageTableFormat(ok));
    for (const [format, re] of [
      [{ kind: 'arm-lpae-s1', granule: 4096 }, /format\.ias/],
      [{ ...ok, ias: '48' }, /format\.ias/],
      [{ ...ok, ias: 49 }, /format\.ias/],
      [{ ...ok, ias: 47.5 }, /format\.ias/],
      [{ ...ok, granule: 8192 }, /format\.granule/],
      [{ ...ok, levels: 4 }, /format\.levels/],
      [{ ...ok, kind: 'arm-lpae-s2' }, /format\.kind/],
    ] as const) {
      expectErrno(() => g.buildPasidTable!(m.guest, cd, [{ pasid: 0, root: t.root, pgtable: format as never }]), 'EINVAL', re);
    }
    // The guest may still write a 16K CD (its table is its own); this unit refuses it when it fetches the CD.
    const s16 = { ...ok, granule: 16384 };
    const t16 = m.guest.createPageTable(g.pageTableFormat(s16));
    const table = g.buildPasidTable!(m.guest, cd, [{ pasid: 0, root: t.root, pgtable: ok }, { pasid: 1, root: t16.root, pgtable: s16 }]);
    fd.bindPasidTable({ ioasid: c, addr: table, format: cd });
    const dev = m.device('dev0');
    expect(() => dev.dmaRead(0x1000n, 4)).toThrow(/F_TRANSLATION/); // a valid CD, unmapped gVA
    expect(() => dev.dmaRead(0x1000n, 4, { pasid: 1 })).toThrow(/C_BAD_CD/);
  });

  it('BIND_PASID_TABLE: S1CDMax beyond the largest GET_INFO lists, missing layout, unknown keys', () => {
    const { m, fd, c } = child({ features: { twoLevelCdTable: false } });
    const info = fd.getInfo(c);
    expect(info.pasidTableFormats).toEqual([{ kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: 10 }]);
    const table = m.guest.allocPages(64n * 1024n);
    const before = snapshot(m, fd);
    for (const [format, re] of [
      [{ kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: 11 }, /format\.s1cdmax/],
      [{ kind: 'arm-smmuv3-cd', layout: 'two-level', s1cdmax: 4 }, /two-level/],
      [{ kind: 'arm-smmuv3-cd', s1cdmax: 4 }, /format\.layout/],
      [{ kind: 'arm-smmuv3-cd', layout: 'linear' }, /format\.s1cdmax/],
      [{ kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: 4, s1fmt: 2 }, /format\.s1fmt/],
    ] as const) {
      expectErrno(() => fd.bindPasidTable({ ioasid: c, addr: table, format: format as never }), 'EINVAL', re);
    }
    expectErrno(() => fd.bindPasidTable({ ioasid: c, addr: 1n << 60n, format: info.pasidTableFormats[0] }), 'EINVAL', /addr/);
    expect(snapshot(m, fd)).toBe(before);
    fd.bindPasidTable({ ioasid: c, addr: table, format: info.pasidTableFormats[0] });
  });

  it('guest helpers: odd formats and entries are EINVAL, and a refused CD table is not built', () => {
    const { m } = child();
    const g = m.driver.guest!;
    const s1 = { kind: 'arm-lpae-s1', granule: 4096, ias: 48 };
    expectErrno(() => g.pageTableFormat({ ...s1, ias: 'x' } as never), 'EINVAL', /format\.ias/);
    expectErrno(() => g.pageTableFormat({ kind: 'arm-lpae-s1', granule: 4096 } as never), 'EINVAL', /format\.ias/);
    const cd = { kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: 2 };
    expectErrno(() => g.buildPasidTable!(m.guest, { ...cd, layout: 'flat' } as never, []), 'EINVAL', /format\.layout/);
    expectErrno(() => g.buildPasidTable!(m.guest, cd, [{ pasid: 1, root: 0x10_0000n, pgtable: s1, asid: 0x10000 }]), 'EINVAL', /asid/);
    expectErrno(() => g.buildPasidTable!(m.guest, cd, [{ pasid: 4, root: 0x10_0000n, pgtable: s1 }]), 'EINVAL', /pasid/);
    expectErrno(() => g.buildPasidTable!(m.guest, cd, [{ pasid: 1, root: 0x10_0008n, pgtable: s1 }]), 'EINVAL', /TTB0/);
    // Guest frames are handed out from the top of guest RAM down: the table that is built now
    // lies right below the last page, so none of the refused calls took a frame.
    const next = m.guest.allocPages(4096n);
    expect(g.buildPasidTable!(m.guest, cd, [{ pasid: 1, root: 0x10_0000n, pgtable: s1 }])).toBe(next - 4096n);
  });

  it('machine options: features the ID registers cannot advertise are EINVAL naming them (not a RangeError)', () => {
    for (const [smmuv3, re] of [
      [{ features: { sidBits: 1.5 } }, /smmuv3\.features\.sidBits/],
      [{ features: { ssidBits: 21 } }, /smmuv3\.features\.ssidBits/],
      [{ features: { oasBits: 50 } }, /smmuv3\.features\.oasBits/],
      [{ features: { granules: [8192] } }, /smmuv3\.features\.granules/],
      [{ features: { asidBits: 12 } }, /smmuv3\.features\.asidBits/],
      [{ features: { stallMax: 70000 } }, /smmuv3\.features\.stallMax/],
      [{ features: { ats: 'yes' } }, /smmuv3\.features\.ats/],
      [{ features: { vmids: 8 } }, /smmuv3\.features\.vmids/],
      [{ streamTable: 'three-level' }, /smmuv3\.streamTable/],
      [{ tlb: 4 }, /smmuv3\.tlb/],
    ] as const) {
      expectErrno(() => createMachine({ vendor: 'arm-smmuv3', devices: [{ name: 'dev0' }], smmuv3 }), 'EINVAL', re);
    }
  });
});
