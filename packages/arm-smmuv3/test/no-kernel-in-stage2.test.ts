import { describe, expect, it } from 'vitest';
import type { DumpTable, IommuDriver } from '@ioasid/core';
import { MSI_IOVA_BASE, MSI_IOVA_LENGTH, STE_WORDS, decodeSte, guestCdTable, guestS1Cd, type SmmuV3Driver } from '../src/index.js';
import { catchFault, gpaSpace, guestData, open, pattern, smmuMachine } from './machine-helpers.js';
import { expectErrno } from '../../../test/support/expect-errno.js';

// Isolation is total: a device's stage 2 holds only what MAP_DMA put there. With stage 2 on,
// STE.S1ContextPtr is an IPA (SMMUv3 §5.2), so a CD table the kernel wrote could only be reached
// by mapping it into that stage 2, where a hostile guest's stage 1 could point at it. SMMUv3
// therefore has no 'user-pgtable' protocol: the guest owns its CD table (BIND_PASID_TABLE), as
// Linux's iommufd nesting does (IOMMU_HWPT_DATA_ARM_SMMUV3: the guest's STE, its CD table in guest memory).

const S1 = { kind: 'arm-lpae-s1', granule: 4096, ias: 48 };
const PAGE = 4096n;

function steOf(drv: SmmuV3Driver, sid: number) {
  const at = drv.strtab.steAddr(sid);
  const w = new Uint32Array(STE_WORDS);
  for (let k = 0; k < STE_WORDS; k++) w[k] = drv.host.u32(at + 4 * k);
  return decodeSte(w);
}


/** Every leaf of a dumped table: its input address, output address and the bytes it maps. */
function leaves(t: DumpTable | null, out: { iova: bigint; addr: bigint; size: bigint; kernel: boolean }[] = []) {
  if (!t) return out;
  for (const e of t.entries) {
    if (e.child) leaves(e.child, out);
    else if (e.decoded.kind === 'leaf') out.push({ iova: e.iova, addr: e.decoded.addr!, size: t.span!, kernel: e.kernel === true });
  }
  return out;
}

describe('SMMUv3 offers no user-pgtable protocol', () => {
  it('GET_INFO lists map and user-pasid-table (with the stage 1 formats guest CDs may use); CREATE_NESTING of user-pgtable is EOPNOTSUPP', () => {
    const { m } = smmuMachine();
    const { fd, devs } = open(m, 'dev0');
    const info = devs[0].getInfo();
    expect(info.protocols).toEqual(['map', 'user-pasid-table']);
    expect(info.nesting).toBe('hardware');
    expect(info.formats.map((f) => f.kind)).toEqual(['arm-lpae-s1', 'arm-lpae-s1', 'arm-lpae-s1']);
    const parent = gpaSpace(m, fd, devs);
    const before = fd.describe();
    expectErrno(() => fd.createNesting({ parent, protocol: 'user-pgtable' }), 'EOPNOTSUPP', /'user-pgtable'/);
    expect(fd.describe()).toEqual(before);
  });

  it('the driver itself refuses it, saying why (the CD table would be mapped into the device\'s stage 2)', () => {
    const { m, drv } = smmuMachine();
    const { fd, devs } = open(m, 'dev0');
    const parent = fd.ioasidObject(gpaSpace(m, fd, devs)).domain;
    const vmids = drv.vmids.inUse;
    expectErrno(() => (drv as IommuDriver).createDomain({ protocol: 'user-pgtable', format: {}, parent }), 'EOPNOTSUPP', /stage 2.*BIND_PASID_TABLE/);
    expect(drv.vmids.inUse).toBe(vmids);
  });
});

describe('no frame of the kernel is reachable through any nested stage 2', () => {
  /**
   * 5.7 on two devices (a two-level guest CD table with PASIDs 0, 1, 2049 and a linear one with
   * CD 0 and CD 2), a kernel PASID on a third device (its CD table in host memory, stage 1 STE),
   * all over one GPA space; some DMA on each so every table and cache has been used.
   */
  function nested() {
    const { m, drv } = smmuMachine({ devices: [{ name: 'a', ats: true, pri: true }, { name: 'b' }, { name: 'k' }] });
    const { fd, devs } = open(m, 'a', 'b', 'k');
    const [a, b, k] = devs;
    const parent = gpaSpace(m, fd, devs);
    const data = guestData(m, PAGE, 1);
    const t = m.guest.createPageTable(m.driver.guest!.pageTableFormat(S1));
    t.map(0x10_0000n, data.gpa, PAGE);
    // The hostile part: gVAs 0x4000_0000 + i pages name each IPA of the MSI window.
    const hostile = m.guest.createPageTable(m.driver.guest!.pageTableFormat(S1));
    hostile.map(0x4000_0000n, BigInt(MSI_IOVA_BASE), BigInt(MSI_IOVA_LENGTH));
    const g = m.driver.guest!;
    // A nested child per device, bound to a guest CD table of `format` holding `cds`.
    const bindCds = (dev: typeof a, format: { kind: string; layout: string; s1cdmax: number }, cds: { pasid: number; root: bigint; pgtable: typeof S1 }[]) => {
      const child = fd.createNesting({ parent, protocol: 'user-pasid-table' });
      dev.attachIoasid(child);
      fd.bindPasidTable({ ioasid: child, addr: g.buildPasidTable!(m.guest, format, cds), format });
    };
    bindCds(a, { kind: 'arm-smmuv3-cd', layout: 'two-level', s1cdmax: 12 }, [
      { pasid: 0, root: t.root, pgtable: S1 },
      { pasid: 1, root: hostile.root, pgtable: S1 },
      { pasid: 2049, root: t.root, pgtable: S1 },
    ]);
    bindCds(b, { kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: 2 }, [
      { pasid: 0, root: hostile.root, pgtable: S1 },
      { pasid: 2, root: t.root, pgtable: S1 },
    ]);
    const kernel = fd.alloc({ protocol: 'map' });
    const va = m.vmm.mmap(64n * 1024n);
    m.vmm.write(va, pattern(3, 64));
    fd.mapDma({ ioasid: kernel, iova: 0x20_0000n, vaddr: va, size: 64n * 1024n, read: true, write: false });
    k.attachIoasid(kernel, { userPasid: 9 });
    expect(a.dmaRead(0x10_0000n, 8)).toEqual(data.bytes.subarray(0, 8));
    expect(a.dmaRead(0x10_0000n, 8, { pasid: 2049 })).toEqual(data.bytes.subarray(0, 8));
    expect(b.dmaRead(0x10_0000n, 8, { pasid: 2 })).toEqual(data.bytes.subarray(0, 8));
    expect(k.dmaRead(0x20_0000n, 8, { pasid: 9 })).toEqual(pattern(3, 8));
    return { m, drv, fd, a, b, k, parent };
  }

  it('every leaf of the stage 2 table in memory maps a frame of the VMM memory MAP_DMA gave at that IOVA, none in the MSI window', () => {
    const { m, drv, fd, a, b, k, parent } = nested();
    // The nested STEs: stage 2 is the parent's table (its S2TTB), the CD tables are guest-physical.
    const s2ttb = Number(fd.dumpPgtable(parent).context!.S2TTB);
    for (const dev of [a, b]) expect(steOf(drv, dev.rid)).toMatchObject({ Config: 7, S2TTB: s2ttb });
    expect(steOf(drv, k.rid)).toMatchObject({ Config: 5 }); // the kernel's CD table: stage 1 only, by PA
    const guestRam = m.vmm.region(m.guest.vaddr, 1n);
    const all = leaves(fd.dumpPgtable(parent).root);
    let mapped = 0n;
    for (const l of all) {
      expect(l.kernel).toBe(false);
      expect(l.iova + l.size <= BigInt(MSI_IOVA_BASE) || l.iova >= BigInt(MSI_IOVA_BASE + MSI_IOVA_LENGTH)).toBe(true);
      for (let p = 0n; p < l.size; p += PAGE) {
        // gpaSpace maps IOVA = GPA: each page is the guest RAM frame at that GPA, nothing else.
        expect(l.addr / PAGE + p / PAGE).toBe(BigInt(guestRam.frameOf(Number((l.iova + p) / PAGE))));
      }
      mapped += l.size;
    }
    expect(mapped).toBe(m.guest.size - BigInt(MSI_IOVA_LENGTH)); // all of guest RAM but the window, and nothing more
    for (let ipa = BigInt(MSI_IOVA_BASE); ipa < BigInt(MSI_IOVA_BASE + MSI_IOVA_LENGTH); ipa += PAGE) {
      expect(fd.lookup(parent, ipa).output).toBeNull();
    }
  });

  it('a DMA through a guest CD whose stage 1 maps a gVA to each IPA of the MSI window is a stage 2 fault, read or write', () => {
    const { drv, a, b } = nested();
    const routes = [
      { dev: a, pasid: 1 as number | undefined },
      { dev: b, pasid: undefined },
    ];
    for (const { dev, pasid } of routes) {
      for (let i = 0n; i < BigInt(MSI_IOVA_LENGTH) / PAGE; i++) {
        const gva = 0x4000_0000n + i * PAGE;
        const ipa = BigInt(MSI_IOVA_BASE) + i * PAGE;
        const opts = pasid === undefined ? {} : { pasid };
        // The event's IPA field is IPA[51:12] (SMMUv3 §7.3.12): the page the stage 1 output fell in.
        expect(catchFault(() => dev.dmaRead(gva + 0x40n, 8, opts))).toMatchObject({ name: 'F_TRANSLATION', s2: true, class: 'IN', iova: gva + 0x40n, ipa });
        expect(catchFault(() => dev.dmaWrite(gva, pattern(7, 8), opts))).toMatchObject({ name: 'F_TRANSLATION', s2: true, ipa });
      }
    }
    expect(drv.evtq.log.at(-1)).toMatchObject({ name: 'F_TRANSLATION', S2: 1, SID: b.rid });
  });

  it('a guest stage 1 table (CD.TTB0) or a CD table placed in the MSI window is a stage 2 fault on the fetch, never a read of kernel memory', () => {
    const { m } = smmuMachine();
    const { fd, devs } = open(m, 'dev0');
    const parent = gpaSpace(m, fd, devs);
    const child = fd.createNesting({ parent, protocol: 'user-pasid-table' });
    devs[0].attachIoasid(child);
    const cds = guestCdTable(m.guest, 'linear', 1);
    cds.write(0, guestS1Cd({ ttb0: BigInt(MSI_IOVA_BASE), granule: 4096, ias: 48, asid: 1 }));
    fd.bindPasidTable({ ioasid: child, addr: BigInt(cds.addr), format: { kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: 1 } });
    expect(catchFault(() => devs[0].dmaRead(0x1000n, 4))).toMatchObject({ name: 'F_TRANSLATION', s2: true, class: 'TT', ipa: BigInt(MSI_IOVA_BASE) });
    for (let at = BigInt(MSI_IOVA_BASE); at < BigInt(MSI_IOVA_BASE + MSI_IOVA_LENGTH); at += 0x1_0000n) {
      fd.bindPasidTable({ ioasid: child, addr: at, format: { kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: 1 } });
      expect(catchFault(() => devs[0].dmaRead(0x1000n, 4))).toMatchObject({ name: 'F_TRANSLATION', s2: true, class: 'CD', ipa: at });
    }
  });
});
