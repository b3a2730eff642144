import { describe, expect, it } from 'vitest';
import { DmaFault, type FaultRecord } from '@ioasid/core';
import { decodeTve, readRte, type TceWindowDomain } from '../src/index.js';
import { bytes, DDW, expectErrno, GiB, KiB, MiB, powerMachine, readBe64 } from './helpers.js';

function dmaFault(fn: () => unknown): FaultRecord {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DmaFault);
    return (e as DmaFault).record;
  }
  throw new Error('expected a DmaFault');
}

function domainOf(fd: ReturnType<ReturnType<typeof powerMachine>['m']['openIoasidFd']>, ioasid: number): TceWindowDomain {
  return fd.ioasidObject(ioasid).domain as TceWindowDomain;
}

describe('binding: PE, RTT entry and default window from BIND_IOASID_FD on', () => {
  it('PE per IOMMU group, allocated top-down below the reserved PE (Linux pnv_ioda_alloc_pe)', () => {
    const { m, iommu } = powerMachine({ devices: [{ name: 'a', group: 1 }, { name: 'b', group: 1 }, { name: 'c', group: 2 }] });
    const fd = m.openIoasidFd();
    const regs0 = m.iommu.registers();
    expect(Object.keys(regs0).filter((k) => k.startsWith('TVT'))).toEqual([]);
    for (const n of ['a', 'b', 'c']) m.device(n).bindIoasidFd(fd);
    expect(iommu.peOf(m.device('a').desc)).toBe(510);
    expect(iommu.peOf(m.device('b').desc)).toBe(510);
    expect(iommu.peOf(m.device('c').desc)).toBe(509);
    const regs = m.iommu.registers();
    const rtt = Number(regs.PHB_RTT_BAR & 0x00fffffffffe0000n);
    expect(regs.PHB_RTT_BAR >> 63n).toBe(1n);
    // RTT entries, big-endian PE numbers at base + 2*RID
    expect(m.hostMemory.read(rtt + 2 * m.device('a').rid, 2)).toEqual(bytes(0x01, 0xfe));
    expect(m.hostMemory.read(rtt + 2 * m.device('c').rid, 2)).toEqual(bytes(0x01, 0xfd));
    expect(readRte(m.hostMemory, rtt, 0x30)).toBe(511);
    // Default window TVEs exist: 2 GiB, one 4 MiB level, 4K pages; no dynamic window yet.
    for (const n of [1020, 1018]) {
      expect(decodeTve(regs[`TVT[${n}]`])).toMatchObject({ valid: true, levels: 1, tableSizeField: 11, ioPsizeField: 1, windowShift: 31 });
    }
    expect(regs['TVT[1021]']).toBeUndefined();
    const info = m.device('a').getInfo();
    expect(info).toMatchObject({ protocols: ['map'], nesting: 'software', pasidBits: 0, pageSizes: [4096n], formats: [], pasidTableFormats: [] });
    expect(info.permittedRanges).toEqual([{ start: 0n, last: 2n * GiB - 1n }]);
  });

  it('unbinding the last device of a group releases RTT entry, TVEs and every frame', () => {
    const { m } = powerMachine();
    const before = m.hostMemory.framesInUse;
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd);
    const id = fd.alloc({ protocol: 'map', window: { pageSize: 64n * KiB, size: 1n << 36n } });
    dev.attachIoasid(id);
    const va = m.vmm.mmap(4n * MiB, { hugePages: '2M' });
    fd.mapDma({ ioasid: id, iova: DDW, vaddr: va, size: 4n * MiB });
    fd.close();
    const regs = m.iommu.registers();
    expect(Object.keys(regs).filter((k) => k.startsWith('TVT'))).toEqual([]);
    expect(readRte(m.hostMemory, Number(regs.PHB_RTT_BAR & 0x00fffffffffe0000n), dev.rid)).toBe(511);
    expect(m.hostMemory.kernelFramesInUse).toBe(before);
  });
});

describe('flow 5.1 on the default 32-bit window', () => {
  function setup() {
    const { m, iommu } = powerMachine();
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd, { label: 'nic' });
    const id = fd.alloc({ protocol: 'map' });
    dev.attachIoasid(id);
    return { m, iommu, fd, dev, id, dom: domainOf(fd, id) };
  }

  it('GET_INFO lists exactly the window in the TVT for the IOASID', () => {
    const { m, fd, id, dom } = setup();
    const info = fd.getInfo(id);
    expect(info.permittedRanges).toEqual([{ start: 0n, last: 0x7fffffffn }]);
    expect(info.pageSizes).toEqual([4096n]);
    expect(info.nesting).toBe('software');
    const raw = m.iommu.registers()['TVT[1020]'];
    // skiboot phb4_map_pe_dma_window: (addr >> 12) in PPC bits 0:47, TCE_TABLE_SIZE 22-11, IO_PSIZE 1
    expect(raw).toBe(((dom.tableAddr >> 12n) << 16n) | 0xb01n);
    const tve = decodeTve(raw);
    expect(tve.tableAddr).toBe(dom.tableAddr);
    expect(1n << BigInt(tve.windowShift)).toBe(info.permittedRanges[0].last + 1n);
  });

  it('MAP_DMA writes big-endian TCEs; DMA moves bytes both ways', () => {
    const { m, fd, dev, id, dom } = setup();
    const va = m.vmm.mmap(64n * KiB);
    m.vmm.write(va + 0x2000n, bytes(1, 2, 3, 4));
    fd.mapDma({ ioasid: id, iova: 0x100000n, vaddr: va, size: 64n * KiB });
    expect([...dev.dmaRead(0x102000n, 4)]).toEqual([1, 2, 3, 4]);
    dev.dmaWrite(0x10fff0n, bytes(9, 8, 7));
    expect([...m.vmm.read(va + 0xfff0n, 3)]).toEqual([9, 8, 7]);
    // The TCE for IO page 0x102: host address of the VMM page | READ | WRITE, big-endian in memory.
    const view = fd.lookup(id, 0x102000n);
    const hpa = view.output! & ~0xfffn;
    const tceAddr = dom.tableAddr + 0x102n * 8n;
    const raw = m.hostMemory.read(tceAddr, 8);
    expect(raw[7] & 3).toBe(3);
    expect(readBe64(m.hostMemory, tceAddr)).toBe(hpa | 3n);
    expect(view.steps[0].entryAddr).toBe(tceAddr);
    expect(view.steps[0].raw).toBe(hpa | 3n);
  });

  it('dumpPgtable entries are the very bytes hostMemory.read returns, as 4 KiB TCEs', () => {
    const { m, fd, id } = setup();
    const va = m.vmm.mmap(16n * KiB);
    fd.mapDma({ ioasid: id, iova: 0x8000n, vaddr: va, size: 16n * KiB, write: false });
    const d = fd.dumpPgtable(id);
    expect(d.inputBase).toBe(0n);
    const leaves = d.root!.entries;
    expect(leaves.map((e) => e.iova)).toEqual([0x8000n, 0x9000n, 0xa000n, 0xb000n]);
    for (const e of leaves) {
      expect(readBe64(m.hostMemory, e.entryAddr)).toBe(e.raw);
      expect(e.decoded).toMatchObject({ kind: 'leaf', fields: { read: true, write: false } });
      expect(e.raw & 3n).toBe(1n);
    }
  });

  it('a write through a read-only TCE faults PERMISSION and freezes the PE until reset (EEH)', () => {
    const { m, iommu, fd, dev, id } = setup();
    const va = m.vmm.mmap(8n * KiB);
    fd.mapDma({ ioasid: id, iova: 0x4000n, vaddr: va, size: 8n * KiB, write: false });
    expect(dmaFault(() => dev.dmaWrite(0x4000n, bytes(1)))).toMatchObject({ name: 'PERMISSION', pe: 510, rid: dev.rid, iova: 0x4000n, write: true });
    expect(iommu.isFrozen(dev.desc)).toBe(true);
    expect(dmaFault(() => dev.dmaRead(0x4000n, 1))).toMatchObject({ name: 'PE_FROZEN', pe: 510 });
    expect(m.iommu.registers()['PESTB[510]']).toBe(0x8000000000000000n);
    expect(fd.readFaults(id).length).toBeGreaterThanOrEqual(1);
    m.driver.resetDevice!(dev.desc);
    expect(iommu.isFrozen(dev.desc)).toBe(false);
    expect(dev.dmaRead(0x4000n, 1)).toHaveLength(1);
  });

  it('after UNMAP_DMA the DMA faults TCE_INVALID (the driver killed the TCE cache)', () => {
    const { m, fd, dev, id } = setup();
    const va = m.vmm.mmap(8n * KiB);
    fd.mapDma({ ioasid: id, iova: 0x4000n, vaddr: va, size: 8n * KiB });
    dev.dmaRead(0x4000n, 8);
    expect(fd.unmapDma({ ioasid: id, iova: 0x4000n, size: 8n * KiB })).toBe(8n * KiB);
    expect(dmaFault(() => dev.dmaRead(0x4000n, 8)).name).toBe('TCE_INVALID');
  });

  it('a TCE cleared without a TCE kill stays usable (stale) until INVALIDATE_CACHE', () => {
    for (const hw560152 of [true, false]) {
      const { m, iommu } = powerMachine({ hw560152 });
      const fd = m.openIoasidFd();
      const dev = m.device('dev0');
      dev.bindIoasidFd(fd);
      const id = fd.alloc({ protocol: 'map' });
      dev.attachIoasid(id);
      const dom = domainOf(fd, id);
      const va = m.vmm.mmap(8n * KiB);
      m.vmm.write(va, bytes(0x5a));
      fd.mapDma({ ioasid: id, iova: 0x4000n, vaddr: va, size: 8n * KiB });
      expect([...dev.dmaRead(0x4000n, 1)]).toEqual([0x5a]);
      m.hostMemory.write(Number(dom.tableAddr) + 4 * 8, new Uint8Array(8)); // forget the kill
      expect(fd.lookup(id, 0x4000n).output).toBeNull(); // the hardware view reads memory …
      expect([...dev.dmaRead(0x4000n, 1)]).toEqual([0x5a]); // … the PHB still uses its TCE cache
      expect(iommu.unit.tceCache.entries(510)).toBe(1);
      fd.invalidateCache({ ioasid: id, iova: 0x4000n, size: 0x1000n });
      expect(dmaFault(() => dev.dmaRead(0x4000n, 1)).name).toBe('TCE_INVALID');
    }
  });

  it('DMA outside the window faults OUT_OF_WINDOW; at the DDW address without a DDW, TVE_INVALID', () => {
    const { m, dev } = setup();
    expect(dmaFault(() => dev.dmaRead(0x80000000n, 1)).name).toBe('OUT_OF_WINDOW');
    m.driver.resetDevice!(dev.desc);
    expect(dmaFault(() => dev.dmaRead(DDW, 1))).toMatchObject({ name: 'TVE_INVALID', tve: 1021 });
  });

  it('MAP_DMA outside the window is refused with EINVAL before anything is pinned', () => {
    const { m, fd, id } = setup();
    const va = m.vmm.mmap(8n * KiB);
    expectErrno(() => fd.mapDma({ ioasid: id, iova: 0x7ffff000n, vaddr: va, size: 8n * KiB }), 'EINVAL');
    expectErrno(() => fd.mapDma({ ioasid: id, iova: DDW, vaddr: va, size: 4n * KiB }), 'EINVAL');
    expect(m.vmm.region(va, 8n * KiB)).toBeDefined();
  });
});

describe('dynamic DMA windows', () => {
  function ddw(window: Record<string, unknown>, hugePages?: '2M' | '1G') {
    const { m, iommu } = powerMachine({ guestMemory: 64n * MiB });
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd);
    const id = fd.alloc({ protocol: 'map', window } as never); // ddw() also feeds malformed windows
    dev.attachIoasid(id);
    const size = 8n * MiB;
    const va = m.vmm.mmap(size, hugePages ? { hugePages } : {});
    return { m, iommu, fd, dev, id, va, size, dom: domainOf(fd, id) };
  }

  it('a 64K-page DDW at 0x0800000000000000: TVE 2*PE+1 fields, GET_INFO, big-endian 64K TCEs, DMA', () => {
    const { m, fd, dev, id, va, dom } = ddw({ pageSize: 64n * KiB, size: 1n << 40n }, '2M');
    const info = fd.getInfo(id);
    expect(info.permittedRanges).toEqual([{ start: DDW, last: DDW + (1n << 40n) - 1n }]);
    expect(info.pageSizes).toEqual([64n * KiB]);
    const regs = m.iommu.registers();
    // Linux: 24 TCE bits -> 2 levels of 2^12 TCEs (32 KiB); TVE TCE_TABLE_SIZE = 15-11 = 4, IO_PSIZE 64K = 5
    expect(decodeTve(regs['TVT[1021]'])).toMatchObject({ valid: true, levels: 2, tableSizeField: 4, ioPsizeField: 5, windowShift: 40, tableAddr: dom.tableAddr });
    expect(dom.tableAddr % 0x8000n).toBe(0n);
    // device caps are the windows the PE's TVT holds: exactly the IOASID's (the kernel's default
    // window left TVE 2·PE when the PE joined the DDW-only IOASID)
    expect(dev.getInfo().permittedRanges).toEqual([{ start: DDW, last: DDW + (1n << 40n) - 1n }]);
    expect(regs['TVT[1020]']).toBeUndefined();
    m.vmm.write(va + 0x12345n, bytes(0xab, 0xcd));
    fd.mapDma({ ioasid: id, iova: DDW + 0x10000000n, vaddr: va, size: 4n * MiB });
    expect([...dev.dmaRead(DDW + 0x10012345n, 2)]).toEqual([0xab, 0xcd]);
    const d = fd.dumpPgtable(id);
    expect(d.inputBase).toBe(DDW);
    const top = d.root!;
    expect(top.entries).toHaveLength(1);
    expect(top.entries[0].decoded.kind).toBe('table');
    expect(top.entries[0].raw & 3n).toBe(3n); // indirect TCEs carry READ and WRITE
    const leaves = top.entries[0].child!.entries;
    expect(leaves).toHaveLength(64); // 4 MiB of 64 KiB TCEs
    for (const e of leaves) {
      expect(readBe64(m.hostMemory, e.entryAddr)).toBe(e.raw);
      expect(e.raw % 0x10000n).toBe(3n); // nothing below the 64K page but READ|WRITE
    }
    const lv = fd.lookup(id, DDW + 0x10012345n);
    expect(lv.pageSize).toBe(64n * KiB);
    expect(lv.steps).toHaveLength(2);
  });

  it('a DDW mapped before any device attaches becomes reachable by the attach (the TVE appears then)', () => {
    const { m } = powerMachine({ guestMemory: 64n * MiB });
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd);
    const id = fd.alloc({ protocol: 'map', window: { pageSize: 4n * KiB, size: 1n << 32n } });
    const va = m.vmm.mmap(64n * KiB);
    m.vmm.write(va, bytes(0x5a));
    fd.mapDma({ ioasid: id, iova: DDW, vaddr: va, size: 64n * KiB });
    expect(dmaFault(() => dev.dmaRead(DDW, 1)).name).toBe('TVE_INVALID');
    dev.reset();
    dev.attachIoasid(id);
    expect([...dev.dmaRead(DDW, 1)]).toEqual([0x5a]);
  });

  it('every level of a multi-level table is naturally aligned to its size', () => {
    const { m, fd, id, va } = ddw({ pageSize: 4n * KiB, size: 1n << 40n, levels: 3 }, '2M');
    // 28 TCE bits over 3 levels -> 10 bits each -> 8 KiB levels
    fd.mapDma({ ioasid: id, iova: DDW + 0x123456000n, vaddr: va, size: 2n * MiB });
    const d = fd.dumpPgtable(id);
    const tables = [d.root!];
    let seen = 0;
    while (tables.length) {
      const t = tables.pop()!;
      expect(t.tableAddr % 0x2000n).toBe(0n);
      seen++;
      for (const e of t.entries) if (e.child) tables.push(e.child);
    }
    expect(seen).toBeGreaterThanOrEqual(3);
    expect(decodeTve(m.iommu.registers()['TVT[1021]'])).toMatchObject({ levels: 3, tableSizeField: 2 });
  });

  it('64K IO pages over scattered 4 KiB host pages are refused (EPERM, as tce_iommu_build)', () => {
    const { fd, id, va } = ddw({ pageSize: 64n * KiB, size: 1n << 32n });
    const aligned = (va + 0xffffn) & ~0xffffn; // core wants the vaddr aligned to the IO page
    expectErrno(() => fd.mapDma({ ioasid: id, iova: DDW, vaddr: aligned, size: 64n * KiB }), 'EPERM', /huge pages/);
    expect(fd.ioasidObject(id).maps.all()).toHaveLength(0);
  });

  it('misaligned to the window page size -> EINVAL', () => {
    const { fd, id, va } = ddw({ pageSize: 64n * KiB, size: 1n << 32n }, '2M');
    expectErrno(() => fd.mapDma({ ioasid: id, iova: DDW + 0x1000n, vaddr: va, size: 64n * KiB }), 'EINVAL');
  });

  it('1G pages map guest RAM backed by 1 GiB huge pages with single TCEs', () => {
    const { m } = powerMachine({ guestMemory: GiB });
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd);
    const id = fd.alloc({ protocol: 'map', window: { pageSize: GiB, size: 1n << 40n } });
    dev.attachIoasid(id);
    fd.mapDma({ ioasid: id, iova: DDW + 4n * GiB, vaddr: m.guest.vaddr, size: GiB });
    m.guest.write(0x3456789n, bytes(0x42));
    expect([...dev.dmaRead(DDW + 4n * GiB + 0x3456789n, 1)]).toEqual([0x42]);
    const leaves = fd.dumpPgtable(id).root!.entries[0].child!.entries;
    expect(leaves).toHaveLength(1);
    expect(leaves[0].raw % GiB).toBe(3n);
  });

  it('detaching removes the DDW TVE; FREE releases the table', () => {
    const { m, fd, dev, id } = ddw({ pageSize: 4n * KiB, size: 1n << 32n });
    expect(m.iommu.registers()['TVT[1021]']).toBeDefined();
    dev.detachIoasid(id);
    expect(m.iommu.registers()['TVT[1021]']).toBeUndefined();
    expect(m.iommu.registers()['TVT[1020]']).toBeDefined();
    const before = m.hostMemory.kernelFramesInUse;
    fd.free(id);
    expect(m.hostMemory.kernelFramesInUse).toBeLessThan(before);
  });

  it('window errors through ALLOC: page size EINVAL, levels EINVAL, too large ENOSPC', () => {
    const { m } = powerMachine();
    const fd = m.openIoasidFd();
    expectErrno(() => fd.alloc({ protocol: 'map', window: { pageSize: 16n * MiB, size: 1n << 40n } }), 'EINVAL', /pageSize/);
    expectErrno(() => fd.alloc({ protocol: 'map', window: { pageSize: 4096n, size: 1n << 40n, levels: 6 } }), 'EINVAL', /levels/);
    expectErrno(() => fd.alloc({ protocol: 'map', window: { pageSize: 4096n, size: 1n << 60n } }), 'ENOSPC');
  });

  it('one dynamic window per PE: the group TVE follows its latest attach and falls back when that detaches', () => {
    const { m } = powerMachine({ devices: [{ name: 'a', group: 4 }, { name: 'b', group: 4 }] });
    const fd = m.openIoasidFd();
    m.device('a').bindIoasidFd(fd);
    m.device('b').bindIoasidFd(fd);
    const x = fd.alloc({ protocol: 'map', window: { pageSize: 4096n, size: 1n << 32n } });
    const tve = () => decodeTve(m.iommu.registers()['TVT[1021]'] ?? 0n);
    m.device('a').attachIoasid(x);
    expect(tve().tableAddr).toBe(domainOf(fd, x).tableAddr);
    // Set-up changed for the group rule (DESIGN §2: a group's RID traffic goes to one IOASID): the
    // group moves from x to y only as a software-nested child stacked on x, one member at a time.
    m.device('b').attachIoasid(x);
    const y = fd.createNesting({ parent: x, protocol: 'map', window: { pageSize: 4096n, size: 1n << 32n } });
    m.device('b').attachIoasid(y); // group partially moved: the PE (one TVE) routes to y
    expect(tve().tableAddr).toBe(domainOf(fd, y).tableAddr);
    m.device('b').detachIoasid(y);
    expect(tve().tableAddr).toBe(domainOf(fd, x).tableAddr);
    m.device('b').detachIoasid(x);
    m.device('a').detachIoasid(x);
    expect(tve().valid).toBe(false);
  });
});

describe('no hardware nesting', () => {
  it('CREATE_NESTING with a binding protocol -> EOPNOTSUPP', () => {
    const { m } = powerMachine();
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd);
    const p = fd.alloc({ protocol: 'map' });
    dev.attachIoasid(p);
    expectErrno(() => fd.createNesting({ parent: p, protocol: 'user-pgtable' }), 'EOPNOTSUPP');
    expectErrno(() => fd.createNesting({ parent: p, protocol: 'user-pasid-table' }), 'EOPNOTSUPP');
    expect(dev.getInfo().formats).toEqual([]);
    expect(dev.getInfo().protocols).toEqual(['map']);
  });

  it('attaching with a PASID is refused (pasidBits 0)', () => {
    const { m } = powerMachine();
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd);
    const p = fd.alloc({ protocol: 'map' });
    expect(() => dev.attachIoasid(p, { userPasid: 1 })).toThrow();
  });
});

describe('software nesting (proposal 5.3) through TCEs', () => {
  it('gIOVA -> GPA -> host composed into the child window TCE table, incrementally', () => {
    const { m } = powerMachine({ guestMemory: 64n * MiB });
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd);
    const gpa = fd.alloc({ protocol: 'map' });
    dev.attachIoasid(gpa);
    fd.mapDma({ ioasid: gpa, iova: 0n, vaddr: m.guest.vaddr, size: m.guest.size });
    const giova = fd.createNesting({ parent: gpa, protocol: 'map' });
    dev.attachIoasid(giova);
    expect(fd.getInfo(giova).nesting).toBe('software');
    const child = domainOf(fd, giova);
    expect(decodeTve(m.iommu.registers()['TVT[1020]']).tableAddr).toBe(child.tableAddr);
    fd.mapDma({ ioasid: giova, iova: 0x2000n, vaddr: 0x1000n, size: 0x1000n });
    dev.dmaWrite(0x2010n, bytes(5, 6));
    expect([...m.guest.read(0x1010n, 2)]).toEqual([5, 6]);
    expect(fd.dumpPgtable(giova).root!.entries).toHaveLength(1);
    fd.unmapDma({ ioasid: giova, iova: 0x2000n, size: 0x1000n });
    expect(dmaFault(() => dev.dmaRead(0x2000n, 1)).name).toBe('TCE_INVALID');
  });
});

describe('flow 5.2: several IOASIDs, several PEs', () => {
  it('one IOASID per device: each PE walks its own table; a device cannot reach the other space', () => {
    const { m } = powerMachine();
    const fd = m.openIoasidFd();
    const [d0, d1] = [m.device('dev0'), m.device('dev1')];
    d0.bindIoasidFd(fd);
    d1.bindIoasidFd(fd);
    const a = fd.alloc({ protocol: 'map' });
    const b = fd.alloc({ protocol: 'map' });
    d0.attachIoasid(a);
    d1.attachIoasid(b);
    const regs = m.iommu.registers();
    expect(decodeTve(regs['TVT[1020]']).tableAddr).toBe(domainOf(fd, a).tableAddr);
    expect(decodeTve(regs['TVT[1018]']).tableAddr).toBe(domainOf(fd, b).tableAddr);
    const va = m.vmm.mmap(8n * KiB);
    m.vmm.write(va, bytes(1));
    m.vmm.write(va + 0x1000n, bytes(2));
    fd.mapDma({ ioasid: a, iova: 0x10000n, vaddr: va, size: 4n * KiB });
    fd.mapDma({ ioasid: b, iova: 0x20000n, vaddr: va + 0x1000n, size: 4n * KiB });
    expect([...d0.dmaRead(0x10000n, 1)]).toEqual([1]);
    expect([...d1.dmaRead(0x20000n, 1)]).toEqual([2]);
    expect(dmaFault(() => d1.dmaRead(0x10000n, 1))).toMatchObject({ name: 'TCE_INVALID', pe: 509 });
    // the error froze only dev1's PE
    expect([...d0.dmaRead(0x10000n, 1)]).toEqual([1]);
    expect(dmaFault(() => d1.dmaRead(0x20000n, 1)).name).toBe('PE_FROZEN');
  });

  it('one IOASID shared by two PEs: both TVEs point at one table, and an unmap kills the TCE cache of both', () => {
    const { m, iommu } = powerMachine({ hw560152: false });
    const fd = m.openIoasidFd();
    const [d0, d1] = [m.device('dev0'), m.device('dev1')];
    d0.bindIoasidFd(fd);
    d1.bindIoasidFd(fd);
    const id = fd.alloc({ protocol: 'map', window: { pageSize: 4n * KiB, size: 1n << 32n } });
    d0.attachIoasid(id);
    d1.attachIoasid(id);
    const regs = m.iommu.registers();
    expect(regs['TVT[1021]']).toBe(regs['TVT[1019]']);
    const va = m.vmm.mmap(8n * KiB);
    fd.mapDma({ ioasid: id, iova: DDW, vaddr: va, size: 8n * KiB });
    d0.dmaRead(DDW, 1);
    d1.dmaRead(DDW + 0x1000n, 1);
    expect(iommu.unit.tceCache.entries(510) + iommu.unit.tceCache.entries(509)).toBe(2);
    fd.unmapDma({ ioasid: id, iova: DDW, size: 8n * KiB });
    expect(iommu.unit.tceCache.entries(510) + iommu.unit.tceCache.entries(509)).toBe(0);
    expect(dmaFault(() => d1.dmaRead(DDW + 0x1000n, 1)).name).toBe('TCE_INVALID');
  });
});

describe('machine options', () => {
  it('tceCacheEntries sizes the PHB TCE cache: a one-entry cache still translates every page from memory', () => {
    const { m } = powerMachine({ tceCacheEntries: 1 });
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd);
    const id = fd.alloc({ protocol: 'map' });
    dev.attachIoasid(id);
    const va = m.vmm.mmap(4n * KiB * 4n);
    for (let i = 0; i < 4; i++) m.vmm.write(va + BigInt(i) * 4096n, bytes(0x10 + i));
    fd.mapDma({ ioasid: id, iova: 0x100000n, vaddr: va, size: 4n * 4096n });
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 4; i++) expect([...dev.dmaRead(0x100000n + BigInt(i) * 4096n, 1)]).toEqual([0x10 + i]);
    }
    expectErrno(() => powerMachine({ tceCacheEntries: 3 }), 'EINVAL', /tceCacheEntries/);
  });
});
