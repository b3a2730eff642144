import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DmaFault, IoasidError, contiguousRuns, type Device, type FaultRecord, type IoasidFd } from '@ioasid/core';
import { EVENT, EVT, decodeEvent, encodeEvent, guestCdTable, guestS1Cd, type S2Domain, type SmmuV3Driver } from '../src/index.js';
import { gpaSpace, guestData, open, pattern, smmuMachine } from './machine-helpers.js';

// Regression tests for issue 15, findings 1 and 2: every 64-bit IOVA a device can put on the bus,
// and every (iova, size) a user can pass to INVALIDATE_CACHE.

const S1 = { kind: 'arm-lpae-s1', granule: 4096, ias: 48 };
const U64 = 1n << 64n;

/** 0, and 2^k − 1, 2^k, 2^k + 1 for every k (those below 2^64). */
const EDGES: bigint[] = (() => {
  const v = new Set<bigint>([0n]);
  for (let k = 0; k <= 64; k++) for (const d of [-1n, 0n, 1n]) {
    const x = (1n << BigInt(k)) + d;
    if (x >= 0n && x < U64) v.add(x);
  }
  return [...v].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
})();

/**
 * INVALIDATE_CACHE of a range; one that wraps past 2^64 may be refused by core (EOVERFLOW), and
 * nothing else may be thrown. Returns whether the call was taken.
 */
function invalidate(fd: IoasidFd, args: { ioasid: number; iova: bigint; size: bigint; pasid?: number }): boolean {
  try {
    fd.invalidateCache(args);
    return true;
  } catch (e) {
    expect(e).toBeInstanceOf(IoasidError);
    expect(args.iova + args.size > U64 && (e as IoasidError).errno === 'EOVERFLOW').toBe(true);
    return false;
  }
}

/** The outcome of a one-byte DMA read: the byte, or the fault record. Anything else thrown fails the test. */
function dma(dev: Device, iova: bigint, pasid?: number): Uint8Array | FaultRecord {
  try {
    return dev.dmaRead(iova, 1, pasid === undefined ? {} : { pasid });
  } catch (e) {
    expect(e).toBeInstanceOf(DmaFault);
    return (e as DmaFault).record;
  }
}

describe('finding 1: a DMA at any 64-bit IOVA is translated or blocked with the architecture\'s event', () => {
  it('the event record carries InputAddr[63:0] whole (Linux EVTQ_2_ADDR GENMASK_ULL(63, 0), QEMU EVT_SET_ADDR: words 4 and 5)', () => {
    const top = 0xffff_ffff_ffff_f000n;
    const w = encodeEvent({ TYPE: EVENT.F_ADDR_SIZE, SID: 8, ADDR: top });
    expect([w[4], w[5]]).toEqual([0xffff_f000, 0xffff_ffff]);
    expect(decodeEvent(w).ADDR).toBe(top);
    expect([EVT.ADDR.dw, EVT.ADDR.lo, EVT.ADDR.width]).toEqual([2, 0, 64]);
  });

  it('a DMA at an unaligned address reports that byte address in the record and in the event queue (SMMUv3 §7.3 InputAddr)', () => {
    const { m } = smmuMachine();
    const { fd, devs } = open(m, 'dev0');
    devs[0].attachIoasid(fd.alloc({ protocol: 'map' }));
    const before = Number(m.iommu.registers().EVENTQ_PROD & 0xfffffn);
    const rec = dma(devs[0], 0x4000_1234n);
    expect(rec).toMatchObject({ name: 'F_TRANSLATION', iova: 0x4000_1234n });
    const base = Number(m.iommu.registers().EVENTQ_BASE & 0xffff_ffff_ffc0n);
    const w = new Uint32Array(8);
    for (let k = 0; k < 8; k++) w[k] = m.hostMemory.u32(base + before * 32 + 4 * k);
    expect(decodeEvent(w).ADDR).toBe(0x4000_1234n);
  });

  /**
   * One machine with a device on each kind of route: a stage 2 map domain; kernel-managed spaces
   * on the StreamID and a PASID (stage 1 STE through the stage 1 copies); a one-CD linear guest
   * CD table (nested STE, non-PASID traffic through CD 0); a guest CD table whose CD 0 is invalid
   * (so non-PASID traffic is C_BAD_CD) and CD 7 valid; a two-CD guest table; and a device
   * attached to nothing.
   */
  function everyRoute() {
    const { m, drv } = smmuMachine({ devices: ['s2', 'kpasid', 'nested', 'cd7', 'cdtable', 'none'].map((name) => ({ name })) });
    const { fd, devs } = open(m, 's2', 'kpasid', 'nested', 'cd7', 'cdtable', 'none');
    const [s2, kpasid, nested, cd7, cdtable] = devs;
    const va = m.vmm.mmap(64n * 1024n);
    m.vmm.write(va, pattern(1, 64));
    const a = fd.alloc({ protocol: 'map' });
    const b = fd.alloc({ protocol: 'map' });
    fd.mapDma({ ioasid: a, iova: 0x10_0000n, vaddr: va, size: 64n * 1024n, read: true, write: true });
    fd.mapDma({ ioasid: b, iova: 0x10_0000n, vaddr: va, size: 64n * 1024n, read: true, write: true });
    s2.attachIoasid(a);
    kpasid.attachIoasid(a);
    kpasid.attachIoasid(b, { userPasid: 3 });
    const parent = gpaSpace(m, fd, [nested, cd7, cdtable]);
    const t = m.guest.createPageTable(m.driver.guest!.pageTableFormat(S1));
    const data = guestData(m, 4096n, 2);
    t.map(0x10_0000n, data.gpa, 4096n);
    const one = { kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: 0 };
    const c1 = fd.createNesting({ parent, protocol: 'user-pasid-table' });
    nested.attachIoasid(c1);
    fd.bindPasidTable({ ioasid: c1, addr: m.driver.guest!.buildPasidTable!(m.guest, one, [{ pasid: 0, root: t.root, pgtable: S1, asid: 3 }]), format: one });
    const eight = { kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: 3 };
    const c2 = fd.createNesting({ parent, protocol: 'user-pasid-table' });
    cd7.attachIoasid(c2);
    fd.bindPasidTable({ ioasid: c2, addr: m.driver.guest!.buildPasidTable!(m.guest, eight, [{ pasid: 7, root: t.root, pgtable: S1, asid: 4 }]), format: eight });
    const c3 = fd.createNesting({ parent, protocol: 'user-pasid-table' });
    cdtable.attachIoasid(c3);
    const cds = guestCdTable(m.guest, 'linear', 2);
    cds.write(0, guestS1Cd({ ttb0: t.root, granule: 4096, ias: 48, asid: 5 }));
    cds.write(1, guestS1Cd({ ttb0: t.root, granule: 4096, ias: 48, asid: 6 }));
    fd.bindPasidTable({ ioasid: c3, addr: BigInt(cds.addr), format: { kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: 2 } });
    return { m, drv, fd, devs };
  }

  /**
   * What the architecture answers for an input address at or above 2^48 (the IAS and every
   * stage 1 input size here), per route. SMMUv3 §3.4 (Address sizes): with stage 1 bypassed the
   * input goes to stage 2 as an IPA and an address beyond the IAS is a stage 1 Address Size fault
   * (QEMU smmu_ptw: "If the input address of a transaction exceeds the size of the IAS, a stage 1
   * Address Size fault occurs"); with stage 1 translating, an address outside the CD's T0SZ range
   * is a stage 1 Translation fault (QEMU select_tt → SMMU_PTW_ERR_TRANSLATION). An STE that
   * aborts records nothing.
   */
  const BEYOND: Record<string, (pasid: number | undefined) => Partial<FaultRecord>> = {
    s2: (p) => (p === undefined ? { name: 'F_ADDR_SIZE', stage: 1, s2: false, class: 'IN' } : { name: 'C_BAD_SUBSTREAMID' }),
    kpasid: () => ({ name: 'F_TRANSLATION', stage: 1, s2: false, class: 'IN' }),
    nested: (p) => (p === undefined ? { name: 'F_TRANSLATION', stage: 1, s2: false, class: 'IN' } : {}),
    cd7: (p) => (p === undefined ? { name: 'C_BAD_CD' } : { name: 'F_TRANSLATION', stage: 1, s2: false, class: 'IN' }),
    cdtable: (p) => (p === 5 ? { name: 'C_BAD_SUBSTREAMID' } : { name: 'F_TRANSLATION', stage: 1, s2: false, class: 'IN' }),
    none: () => ({ name: 'ABORT', code: 0, recorded: false }),
  };
  const PASIDS: Record<string, (number | undefined)[]> = {
    s2: [undefined, 1],
    kpasid: [undefined, 3],
    nested: [undefined, 9],
    cd7: [undefined, 7],
    cdtable: [undefined, 1, 5],
    none: [undefined, 2],
  };

  function check(env: ReturnType<typeof everyRoute>, iova: bigint): void {
    const { drv, devs } = env;
    for (const dev of devs) {
      for (const pasid of PASIDS[dev.name]) {
        const r = dma(dev, iova, pasid);
        if (r instanceof Uint8Array) {
          expect(iova < 1n << 48n).toBe(true); // nothing is mapped above 2^48
          continue;
        }
        expect(r.iova).toBe(iova); // InputAddr[63:0]: the byte the request carried (SMMUv3 §7.3)
        expect(r.name === 'ABORT' || r.name in EVENT).toBe(true);
        if (iova >= 1n << 48n) expect(r).toMatchObject(BEYOND[dev.name](pasid));
        if (r.recorded) {
          // The event queue holds the record with the whole 64-bit input address.
          const e = drv.evtq.log.at(-1)!;
          expect(e.TYPE).toBe(r.code);
          if (r.code >= EVENT.F_TRANSLATION) expect(e.ADDR).toBe(iova);
        }
      }
    }
  }

  it('powers of two ± 1 on every kind of route: a translation or a DmaFault, never another exception', () => {
    const env = everyRoute();
    for (const iova of EDGES) check(env, iova);
    // The mapped pages still translate.
    expect(env.devs[0].dmaRead(0x10_0000n, 8)).toEqual(pattern(1, 8));
    expect(env.devs[1].dmaRead(0x10_0000n, 8, { pasid: 3 })).toEqual(pattern(1, 8));
    expect(env.devs[2].dmaRead(0x10_0000n, 8)).toEqual(pattern(2, 8));
    expect(env.devs[3].dmaRead(0x10_0000n, 8, { pasid: 7 })).toEqual(pattern(2, 8));
    expect(env.devs[4].dmaRead(0x10_0000n, 8, { pasid: 1 })).toEqual(pattern(2, 8));
  });

  it('random 64-bit IOVAs on every kind of route (fast-check)', () => {
    const env = everyRoute();
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: U64 - 1n }), (iova) => check(env, iova)),
      { numRuns: 300 },
    );
  });

  it('F_ADDR_SIZE beyond the IAS on a stage 2 stream is recorded with S2 = 0 and CLASS = IN (SMMUv3 §3.4, §7.3.13)', () => {
    const { m, drv } = smmuMachine();
    const { fd, devs } = open(m, 'dev0');
    devs[0].attachIoasid(fd.alloc({ protocol: 'map' }));
    const r = dma(devs[0], 1n << 52n) as FaultRecord;
    expect(r).toMatchObject({ name: 'F_ADDR_SIZE', code: 0x11, recorded: true, iova: 1n << 52n });
    expect(drv.evtq.log.at(-1)).toMatchObject({ name: 'F_ADDR_SIZE', S2: 0, CLASS: 2, ADDR: 1n << 52n, SID: devs[0].rid });
    // Just below the IAS, the IPA is stage 2's: a stage 2 Translation fault with the IPA.
    expect(dma(devs[0], (1n << 48n) - 4096n)).toMatchObject({ name: 'F_TRANSLATION', s2: true, ipa: (1n << 48n) - 4096n });
  });
});

describe('finding 2: INVALIDATE_CACHE of any (iova, size) never throws and never leaves a stale translation', () => {
  /**
   * Linux __arm_smmu_tlb_inv_range splits a range into commands of NUM+1 ≤ 32 times 2^SCALE
   * granules (SCALE ≤ 31, CMDQ_TLBI_0_SCALE) with IDR3.RIL, or one per granule without it; a
   * range past the input size, or one needing more than CMDQ_MAX_TLBI_OPS commands or a larger
   * SCALE, is invalidated by ASID (TLBI_NH_ASID) or VMID (TLBI_S12_VMALL) instead.
   */
  for (const ril of [true, false]) {
    const title = ril ? 'with range invalidation (IDR3.RIL)' : 'without range invalidation';

    function machine() {
      return smmuMachine({ devices: [{ name: 'a', ats: true }, { name: 'b', ats: true }], smmuv3: { features: { rangeInvalidation: ril } } });
    }

    /** Runs INVALIDATE_CACHE for every (iova, size) of EDGES × EDGES; after each range covering `at`, the page read must be the current one. */
    function sweep(fd: IoasidFd, ioasid: number, at: bigint, swap: () => void, read: () => Uint8Array, pages: [Uint8Array, Uint8Array], extra: { pasid?: number } = {}) {
      let cur = 0;
      let covering = 0;
      for (const iova of EDGES) {
        for (const size of EDGES) {
          if (size === 0n) continue;
          const covers = iova <= at && at < iova + size && iova + size <= U64;
          if (covers) swap(); // the table changes; the TLB (and ATC) still hold the old page
          const taken = invalidate(fd, { ioasid, iova, size, ...extra });
          expect(taken || !covers).toBe(true);
          if (covers) {
            cur ^= 1;
            covering++;
            expect(read()).toEqual(pages[cur]);
          }
        }
      }
      expect(covering).toBeGreaterThan(1000);
    }

    it(`stage 2 map domain, ${title}`, () => {
      const { m, drv } = machine();
      const { fd, devs } = open(m, 'a');
      const ioasid = fd.alloc({ protocol: 'map' });
      devs[0].attachIoasid(ioasid);
      const va = m.vmm.mmap(64n * 1024n); // 4 KiB pages: the entry for `at` is a page
      m.vmm.write(va, pattern(1, 8));
      m.vmm.write(va + 0x1000n, pattern(2, 8));
      const at = 0x1000_0000n;
      fd.mapDma({ ioasid, iova: at, vaddr: va, size: 64n * 1024n, read: true, write: true });
      const d = fd.ioasidObject(ioasid).domain as S2Domain;
      const frames = [0n, 0x1000n].map((o) => Number(fd.lookup(ioasid, at + o).output! >> 12n));
      let cur = 0;
      // What a buggy driver would do: the entry changes in memory with no TLBI (machine.test.ts does the same).
      const swap = () => {
        cur ^= 1;
        d.table.unmap(Number(at >> 12n), 1);
        d.table.map(Number(at >> 12n), 1, contiguousRuns(frames[cur], 1), 3);
      };
      const read = () => devs[0].dmaRead(at, 8);
      expect(read()).toEqual(pattern(1, 8));
      swap();
      expect(read()).toEqual(pattern(1, 8)); // stale until invalidated: the test can see staleness
      swap();
      sweep(fd, ioasid, at, swap, read, [pattern(1, 8), pattern(2, 8)]);
      expect(drv.cmdq.count('TLBI_S12_VMALL')).toBeGreaterThan(0); // the whole-VMID fallback ran
    });

    it(`guest CD table child, CD 0 (no PASID), ${title}`, () => {
      const { m, drv } = machine();
      const { fd, devs } = open(m, 'a', 'b');
      const parent = gpaSpace(m, fd, devs);
      const child = fd.createNesting({ parent, protocol: 'user-pasid-table' });
      devs[0].attachIoasid(child);
      const t = m.guest.createPageTable(m.driver.guest!.pageTableFormat(S1));
      const pages = [guestData(m, 4096n, 1), guestData(m, 4096n, 2)];
      const at = 0x40_0000n;
      t.map(at, pages[0].gpa, 4096n);
      const format = { kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: 0 };
      fd.bindPasidTable({ ioasid: child, addr: m.driver.guest!.buildPasidTable!(m.guest, format, [{ pasid: 0, root: t.root, pgtable: S1, asid: 8 }]), format });
      let cur = 0;
      const swap = () => {
        cur ^= 1;
        t.unmap(at, 4096n);
        t.map(at, pages[cur].gpa, 4096n);
      };
      const read = () => devs[0].dmaRead(at, 8);
      expect(read()).toEqual(pages[0].bytes.subarray(0, 8));
      swap();
      expect(read()).toEqual(pages[0].bytes.subarray(0, 8)); // stale until invalidated
      swap();
      sweep(fd, child, at, swap, read, [pages[0].bytes.subarray(0, 8), pages[1].bytes.subarray(0, 8)]);
      expect(drv.cmdq.count('TLBI_NH_ASID')).toBeGreaterThan(0);
      // The parent's INVALIDATE_CACHE takes any range as well.
      for (const iova of EDGES) for (const size of [1n, 4096n, 1n << 60n, U64 - 1n]) invalidate(fd, { ioasid: parent, iova, size });
    });

    it(`guest CD table child, one PASID, ${title}`, () => {
      const { m } = machine();
      const { fd, devs } = open(m, 'a');
      const parent = gpaSpace(m, fd, devs);
      const child = fd.createNesting({ parent, protocol: 'user-pasid-table' });
      devs[0].attachIoasid(child);
      const t = m.guest.createPageTable(m.driver.guest!.pageTableFormat(S1));
      const pages = [guestData(m, 4096n, 3), guestData(m, 4096n, 4)];
      const at = 0x40_0000n;
      t.map(at, pages[0].gpa, 4096n);
      const format = { kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: 2 };
      const table = m.driver.guest!.buildPasidTable!(m.guest, format, [{ pasid: 1, root: t.root, pgtable: S1, asid: 9 }]);
      fd.bindPasidTable({ ioasid: child, addr: table, format });
      let cur = 0;
      const swap = () => {
        cur ^= 1;
        t.unmap(at, 4096n);
        t.map(at, pages[cur].gpa, 4096n);
      };
      const read = () => devs[0].dmaRead(at, 8, { pasid: 1 });
      expect(read()).toEqual(pages[0].bytes.subarray(0, 8));
      sweep(fd, child, at, swap, read, [pages[0].bytes.subarray(0, 8), pages[1].bytes.subarray(0, 8)], { pasid: 1 });
    });
  }

  it('the reported cases: iova 2^60 size 4096, and iova 0 size 2^60, on a map IOASID and on a nested child', () => {
    const { m } = smmuMachine();
    const { fd, devs } = open(m, 'dev0');
    const parent = gpaSpace(m, fd, devs);
    const child = fd.createNesting({ parent, protocol: 'user-pasid-table' });
    devs[0].attachIoasid(child);
    const t = m.guest.createPageTable(m.driver.guest!.pageTableFormat(S1));
    const format = { kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: 0 };
    fd.bindPasidTable({ ioasid: child, addr: m.driver.guest!.buildPasidTable!(m.guest, format, [{ pasid: 0, root: t.root, pgtable: S1 }]), format });
    for (const ioasid of [parent, child]) {
      expect(() => fd.invalidateCache({ ioasid, iova: 1n << 60n, size: 4096n })).not.toThrow();
      expect(() => fd.invalidateCache({ ioasid, iova: 0n, size: 1n << 60n })).not.toThrow();
    }
  });
});

describe('finding 1 and 2 keep the rules: only IoasidError and DmaFault leave the API', () => {
  it('a DMA spanning the top of the address space is blocked by its first page', () => {
    const { m } = smmuMachine();
    const { fd, devs } = open(m, 'dev0');
    devs[0].attachIoasid(fd.alloc({ protocol: 'map' }));
    const e = (() => {
      try {
        devs[0].dmaRead(U64 - 4n, 8);
      } catch (x) {
        return x;
      }
    })();
    expect(e).toBeInstanceOf(DmaFault);
    // The record holds the first byte of the request (InputAddr[63:0]), not its page.
    expect((e as DmaFault).record.iova).toBe(U64 - 4n);
    expect(() => fd.invalidateCache({ ioasid: 1, iova: U64, size: 1n })).toThrow(IoasidError);
  });

  it('with SMMU_CR0.SMMUEN = 0 and GBPA bypass, an input beyond the OAS aborts without an event (SMMUv3 §3.4)', () => {
    const { m, drv } = smmuMachine();
    const d = drv as SmmuV3Driver;
    d.unit.write('CR0', 0n);
    d.unit.write('GBPA', 0n);
    const before = Number(d.unit.read('EVENTQ_PROD'));
    expect(d.unit.translate({ rid: 8, pasid: -1, iovaFrame: 2 ** 36, write: false, privileged: false })).toMatchObject({ name: 'ABORT', code: 0, recorded: false });
    expect(d.unit.translate({ rid: 8, pasid: -1, iovaFrame: 2 ** 36 - 1, write: false, privileged: false })).toBe(2 ** 36 - 1);
    expect(Number(d.unit.read('EVENTQ_PROD'))).toBe(before);
    expect(m.hostMemory.framesInUse).toBeGreaterThan(0);
  });
});
