import { describe, expect, it } from 'vitest';
import { DmaFault, type DumpTable, type FaultRecord, type MachineOptions } from '@ioasid/core';
import { decodeRegister, FR, VtdSecondLevelDomain, type InvDesc } from '../src/index.js';
import { bytes, expectErrno, MiB, qwordAt, vtdMachine } from './helpers.js';
import { everyAllocationFailure } from '../../../test/support/atomicity.js';

function dmaFault(fn: () => unknown): FaultRecord {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DmaFault);
    return (e as DmaFault).record;
  }
  throw new Error('expected a DMA fault');
}

function setup(extra: Parameters<typeof vtdMachine>[0] = {}) {
  const { m, driver } = vtdMachine(extra);
  const fd = m.openIoasidFd();
  const dev = m.device('dev0');
  dev.bindIoasidFd(fd, { label: 'nic' });
  const ioasid = fd.alloc({ protocol: 'map' });
  dev.attachIoasid(ioasid);
  const domain = fd.ioasidObject(ioasid).domain as VtdSecondLevelDomain;
  return { m, driver, fd, dev, ioasid, domain };
}

/** A guest with a nested child: parent maps all guest RAM at GPA 0, the child takes the guest's first-level table. */
function nestedSetup(devices?: MachineOptions['devices']) {
  const { m, driver } = vtdMachine(devices ? { devices } : {});
  const fd = m.openIoasidFd();
  const dev = m.device('dev0');
  dev.bindIoasidFd(fd, { label: 'vf' });
  const parent = fd.alloc({ protocol: 'map' });
  fd.mapDma({ ioasid: parent, iova: 0n, vaddr: m.guest.vaddr, size: m.guest.size, read: true, write: true });
  dev.attachIoasid(parent);
  const child = fd.createNesting({ parent, protocol: 'user-pgtable' });
  const fmt = driver.guest.pageTableFormat({ kind: 'vtd-first-level', levels: 4 });
  const gpt = m.guest.createPageTable(fmt);
  return { m, driver, fd, dev, parent, child, gpt };
}

function* entries(t: DumpTable): Generator<{ level: number; entryAddr: bigint; raw: bigint; kind: string }> {
  for (const e of t.entries) {
    yield { level: t.level, entryAddr: e.entryAddr, raw: e.raw, kind: e.decoded.kind };
    if (e.child) yield* entries(e.child);
  }
}

describe('flow 5.1: kernel-managed address space', () => {
  it('maps VMM memory, moves bytes by DMA, faults after unmap with a recorded VT-d fault', () => {
    const { m, fd, dev, ioasid } = setup();
    const va = m.vmm.mmap(64n * 1024n);
    fd.mapDma({ ioasid, iova: 0x100000n, vaddr: va, size: 64n * 1024n, read: true, write: true });
    dev.dmaWrite(0x100ffen, bytes(1, 2, 3, 4));
    expect([...m.vmm.read(va + 0xffen, 4)]).toEqual([1, 2, 3, 4]);
    expect(fd.unmapDma({ ioasid, iova: 0x100000n, size: 64n * 1024n })).toBe(64n * 1024n);
    const f = dmaFault(() => dev.dmaWrite(0x101000n, bytes(9)));
    // Unmapped: the second-stage entry is not present (VT-d §7.1.3 scalable-mode 79h).
    expect(f).toMatchObject({ rid: 0x08, iova: 0x101000n, write: true, code: FR.SS_PAGING_ENTRY_P, name: 'SS_PAGING_ENTRY_P' });
    expect(f.explain).toMatch(/not present/);
    expect(f.pasid).toBeUndefined();
    const frcd = decodeRegister(`FRCD_REG[${f.frcd as number}]`, m.iommu.registers()[`FRCD_REG[${f.frcd as number}]`]);
    expect(frcd).toMatchObject({ F: true, FR: FR.SS_PAGING_ENTRY_P, SID: 0x08, FI: 0x101000n, T: false });
    expect(fd.readFaults(ioasid)).toHaveLength(1);
  });

  it('read-only maps are enforced by the second-level W bit', () => {
    const { m, fd, dev, ioasid } = setup();
    const va = m.vmm.mmap(4096n);
    fd.mapDma({ ioasid, iova: 0x5000n, vaddr: va, size: 4096n, read: true, write: false });
    expect([...dev.dmaRead(0x5000n, 2)]).toEqual([0, 0]);
    expect(dmaFault(() => dev.dmaWrite(0x5000n, bytes(1))).name).toBe('SM_WRITE'); // VT-d §7.1.3, 85h
  });

  it('the fault interrupt handler releases FRCD registers: later faults use the next register', () => {
    const { dev } = setup();
    const a = dmaFault(() => dev.dmaRead(0x1000n, 1));
    const b = dmaFault(() => dev.dmaRead(0x2000n, 1));
    expect(b.frcd).toBe(((a.frcd as number) + 1) % 8);
  });

  it('unmap issues IOTLB page-selective and device-TLB invalidations (Linux cache_tag_flush_range)', () => {
    const { m, driver } = vtdMachine({ devices: [{ name: 'dev0', ats: true }] });
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd, { label: 'x' });
    const ioasid = fd.alloc({ protocol: 'map' });
    dev.attachIoasid(ioasid);
    const did = (fd.ioasidObject(ioasid).domain as VtdSecondLevelDomain).did;
    const va = m.vmm.mmap(0x8000n);
    fd.mapDma({ ioasid, iova: 0x10000n, vaddr: va, size: 0x8000n, read: true, write: true });
    const before = driver.qi.history.length;
    fd.unmapDma({ ioasid, iova: 0x10000n, size: 0x8000n });
    const issued = driver.qi.history.slice(before);
    expect(issued).toContainEqual<InvDesc>({ type: 'iotlb', gran: 3, did, addr: 0x10000n, am: 3, ih: false, dr: true, dw: true });
    expect(issued).toContainEqual<InvDesc>({ type: 'devtlb', sid: 0x08, pfsid: 0x08, qdep: 0, addr: 0x13000n, s: true });
    expect(issued[issued.length - 1].type).toBe('wait');
  });
});

describe('invalidation discipline', () => {
  it('a table change without invalidation leaves a stale translation that really translates; the invalidation removes it', () => {
    const { m, fd, dev, ioasid, domain } = setup();
    const va = m.vmm.mmap(0x2000n);
    fd.mapDma({ ioasid, iova: 0x40000n, vaddr: va, size: 0x2000n, read: true, write: true });
    dev.dmaWrite(0x40000n, bytes(7));
    // The kernel forgets to flush: change the table behind the driver's back.
    domain.table.unmap(0x40, 2);
    expect(fd.lookup(ioasid, 0x40000n).output).toBeNull(); // memory says: not mapped
    dev.dmaWrite(0x40001n, bytes(8)); // the IOTLB still says: mapped
    expect([...m.vmm.read(va, 2)]).toEqual([7, 8]);
    fd.invalidateCache({ ioasid, iova: 0x40000n, size: 0x2000n });
    expect(dmaFault(() => dev.dmaWrite(0x40000n, bytes(1))).name).toBe('SS_PAGING_ENTRY_P');
  });

  it('the device-TLB of an ATS device keeps a translation until a device-TLB invalidation', () => {
    const { m, driver } = vtdMachine({ devices: [{ name: 'dev0', ats: true }] });
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd, { label: 'x' });
    const ioasid = fd.alloc({ protocol: 'map' });
    dev.attachIoasid(ioasid);
    const d = fd.ioasidObject(ioasid).domain as VtdSecondLevelDomain;
    const va = m.vmm.mmap(0x1000n);
    fd.mapDma({ ioasid, iova: 0x7000n, vaddr: va, size: 0x1000n, read: true, write: true });
    dev.dmaRead(0x7000n, 1);
    d.table.unmap(7, 1);
    driver.qi.submit([{ type: 'iotlb', gran: 2, did: d.did, addr: 0n, am: 0, ih: false, dr: true, dw: true }]); // IOTLB only
    expect(dev.dmaRead(0x7000n, 1)).toHaveLength(1); // served from the device's ATC
    fd.invalidateCache({ ioasid, all: true });
    expect(dmaFault(() => dev.dmaRead(0x7000n, 1)).name).toBe('SS_PAGING_ENTRY_P');
  });
});

describe('hardware view (DESIGN §8)', () => {
  it('every entry DUMP_PGTABLE shows is the bytes host memory holds at the address it names', () => {
    const { m, fd, ioasid } = setup();
    const huge = m.vmm.mmap(4n * MiB, { hugePages: '2M' });
    const small = m.vmm.mmap(0x4000n);
    fd.mapDma({ ioasid, iova: 0x200000n, vaddr: huge, size: 4n * MiB, read: true, write: true });
    fd.mapDma({ ioasid, iova: 0x10000000n, vaddr: small, size: 0x4000n, read: true, write: false });
    const dump = fd.dumpPgtable(ioasid);
    const all = [...entries(dump.root!)];
    for (const e of all) expect(qwordAt(m.hostMemory, e.entryAddr)).toBe(e.raw);
    const leaves = all.filter((e) => e.kind === 'leaf');
    // Levels as VT-d numbers them (DESIGN §9): 2 = PDE (2 MiB pages), 1 = PTE (4 KiB).
    expect(leaves.filter((e) => e.level === 2)).toHaveLength(2); // two 2 MiB pages
    expect(leaves.filter((e) => e.level === 1)).toHaveLength(4); // scattered 4 KiB frames
    expect(dump.root!.level).toBe(4); // PML4 of the 4-level second-stage table
    expect(dump.context).toMatchObject({ routes: [{ device: 'dev0', pasidEntry: { PGTT: 2, P: true } }] });
  });

  it('LOOKUP decodes the walk from memory and agrees with the DMA', () => {
    const { m, fd, dev, ioasid } = setup();
    const va = m.vmm.mmap(2n * MiB, { hugePages: '2M' });
    fd.mapDma({ ioasid, iova: 0x400000n, vaddr: va, size: 2n * MiB, read: true, write: true });
    const v = fd.lookup(ioasid, 0x412345n);
    expect(v.pageSize).toBe(2n * MiB);
    for (const s of v.steps) expect(qwordAt(m.hostMemory, s.entryAddr)).toBe(s.raw);
    dev.dmaWrite(0x412345n, bytes(0x5a));
    expect(m.hostMemory.read(v.output!, 1)[0]).toBe(0x5a);
  });

  it('an outside checker can walk root → context → PASID → second level from registers and raw memory alone', () => {
    const { m, fd, dev, ioasid } = setup();
    const va = m.vmm.mmap(0x1000n);
    fd.mapDma({ ioasid, iova: 0x3000n, vaddr: va, size: 0x1000n, read: true, write: true });
    dev.dmaWrite(0x3010n, bytes(0xee));
    const q = (pa: bigint) => qwordAt(m.hostMemory, pa);
    const regs = m.iommu.registers();
    expect((regs.RTADDR_REG >> 10n) & 3n).toBe(1n); // scalable mode
    const rta = regs.RTADDR_REG & ~0xfffn;
    const rid = dev.rid;
    const root = q(rta + BigInt((rid >> 8) * 16)); // devfn < 128: lower half
    expect(root & 1n).toBe(1n);
    const ctx = q((root & ~0xfffn) + BigInt((rid & 0x7f) * 32));
    expect(ctx & 1n).toBe(1n);
    const ridPasid = Number(q((root & ~0xfffn) + BigInt((rid & 0x7f) * 32) + 8n) & 0xfffffn);
    const pde = q((ctx & ~0xfffn) + BigInt((ridPasid >> 6) * 8));
    const pe0 = q((pde & ~0xfffn) + BigInt((ridPasid & 63) * 64));
    expect((pe0 >> 6n) & 7n).toBe(2n); // second level only
    const levels = Number((pe0 >> 2n) & 7n) + 2;
    let table = pe0 & 0x000ffffffffff000n;
    let out = 0n;
    for (let l = levels - 1; l >= 0; l--) {
      const e = q(table + ((0x3010n >> BigInt(12 + 9 * l)) & 511n) * 8n);
      expect(e & 3n).not.toBe(0n);
      table = e & 0x000ffffffffff000n;
      if (l === 0) out = table + 0x010n;
    }
    expect(m.hostMemory.read(out, 1)[0]).toBe(0xee);
  });

  it('reading the view has no side effect on the caches: a stale translation stays visible', () => {
    const { m, fd, dev, ioasid, domain } = setup();
    const va = m.vmm.mmap(0x1000n);
    fd.mapDma({ ioasid, iova: 0x9000n, vaddr: va, size: 0x1000n, read: true, write: true });
    dev.dmaRead(0x9000n, 1);
    domain.table.unmap(9, 1);
    fd.dumpPgtable(ioasid);
    fd.lookup(ioasid, 0x9000n);
    m.iommu.registers();
    expect(dev.dmaRead(0x9000n, 1)).toHaveLength(1);
  });
});

describe('nested translation: BIND_PGTABLE of a guest first-level table', () => {
  it('DMA at a GVA lands in guest memory through first level over second level', () => {
    const { m, fd, dev, child, gpt } = nestedSetup();
    dev.attachIoasid(child);
    const buf = m.guest.allocPages(0x2000n);
    gpt.map(0x7f0000000000n, buf, 0x2000n);
    fd.bindPgtable({ ioasid: child, addr: gpt.root, format: { kind: 'vtd-first-level', levels: 4 } });
    dev.dmaWrite(0x7f0000000ffen, bytes(1, 2, 3, 4));
    expect([...m.guest.read(buf + 0xffen, 4)]).toEqual([1, 2, 3, 4]);
    const v = fd.lookup(child, 0x7f0000001000n);
    expect(v.steps.filter((s) => s.stage?.startsWith('first-level'))).toHaveLength(4);
    expect(v.output).not.toBeNull();
    expect([...m.hostMemory.read(v.output!, 2)]).toEqual([3, 4]);
    // The child's dump is in guest-physical terms: its entries are the bytes guest memory holds there.
    const all = [...entries(fd.dumpPgtable(child).root!)];
    expect(all.filter((e) => e.kind === 'leaf')).toHaveLength(2);
    for (const e of all) expect(new DataView(m.guest.read(e.entryAddr, 8).buffer).getBigUint64(0, true)).toBe(e.raw);
    const f = dmaFault(() => dev.dmaRead(0x7f0000100000n, 1));
    expect(f).toMatchObject({ name: 'FS_PAGING_ENTRY_P', stage: 'first-level' });
    expect(fd.readFaults(child)).toHaveLength(1);
  });

  it('guest changes need INVALIDATE_CACHE (PASID-based IOTLB) before the device sees them', () => {
    const { m, fd, dev, child, gpt, driver } = nestedSetup();
    dev.attachIoasid(child);
    const a = m.guest.allocPages(0x1000n);
    const b = m.guest.allocPages(0x1000n);
    gpt.map(0x10000n, a, 0x1000n);
    fd.bindPgtable({ ioasid: child, addr: gpt.root, format: { kind: 'vtd-first-level', levels: 4 } });
    dev.dmaWrite(0x10000n, bytes(0xa));
    gpt.unmap(0x10000n, 0x1000n);
    gpt.map(0x10000n, b, 0x1000n);
    dev.dmaWrite(0x10001n, bytes(0xaa)); // stale: still goes to a
    expect(m.guest.read(a + 1n, 1)[0]).toBe(0xaa);
    const before = driver.qi.history.length;
    fd.invalidateCache({ ioasid: child, iova: 0x10000n, size: 0x1000n });
    const did = fd.ioasidObject(child).domain as unknown as { did: number };
    expect(driver.qi.history.slice(before)).toContainEqual<InvDesc>({ type: 'piotlb', gran: 3, did: did.did, pasid: 0, addr: 0x10000n, am: 0, ih: false });
    dev.dmaWrite(0x10001n, bytes(0xbb));
    expect(m.guest.read(b + 1n, 1)[0]).toBe(0xbb);
  });

  it('the PASID entry is PGTT 011b with FLPTPTR = the GPA and SLPTPTR = the parent root; blocked until bound; parent again after detach', () => {
    const { m, fd, dev, parent, child, gpt } = nestedSetup();
    dev.attachIoasid(child);
    expect(dmaFault(() => dev.dmaRead(0n, 1)).name).toBe('PASID_ENTRY_P');
    fd.bindPgtable({ ioasid: child, addr: gpt.root, format: { kind: 'vtd-first-level', levels: 4 } });
    const route = (fd.dumpPgtable(child).context as { routes: { pasidEntry: Record<string, unknown> }[] }).routes[0].pasidEntry;
    const parentRoot = (fd.ioasidObject(parent).domain as VtdSecondLevelDomain).rootAddr;
    expect(route).toMatchObject({ P: true, PGTT: 3, FLPTPTR: gpt.root, SLPTPTR: parentRoot, FLPM: 0, AW: 2 });
    m.guest.write(0x1234n, bytes(0x77));
    dev.detachIoasid(child);
    expect(dev.dmaRead(0x1234n, 1)[0]).toBe(0x77); // the parent (GPA) translation is back
  });

  it('5-level first-level tables bind with FLPM = 1', () => {
    const { m, fd, dev, child, driver } = nestedSetup();
    dev.attachIoasid(child);
    const gpt = m.guest.createPageTable(driver.guest.pageTableFormat({ kind: 'vtd-first-level', levels: 5 }));
    const buf = m.guest.allocPages(0x1000n);
    gpt.map(0xff000000000000n, buf, 0x1000n);
    fd.bindPgtable({ ioasid: child, addr: gpt.root, format: { kind: 'vtd-first-level', levels: 5 } });
    dev.dmaWrite(0xff000000000000n, bytes(5));
    expect(m.guest.read(buf, 1)[0]).toBe(5);
    expectErrno(() => fd.bindPgtable({ ioasid: child, addr: gpt.root, format: { kind: 'vtd-first-level', levels: 3 } }), 'EINVAL');
    expectErrno(() => fd.bindPgtable({ ioasid: child, addr: gpt.root + 8n, format: { kind: 'vtd-first-level', levels: 5 } }), 'EINVAL');
  });

  it('vPASID on a pdev: requests with the PASID go through the child, requests without it through the parent', () => {
    const { m, fd, dev, child, gpt } = nestedSetup();
    dev.attachIoasid(child, { userPasid: 7 });
    const buf = m.guest.allocPages(0x1000n);
    gpt.map(0x20000n, buf, 0x1000n);
    fd.bindPgtable({ ioasid: child, addr: gpt.root, format: { kind: 'vtd-first-level', levels: 4 } });
    dev.dmaWrite(0x20000n, bytes(0x42), { pasid: 7 });
    expect(m.guest.read(buf, 1)[0]).toBe(0x42);
    dev.dmaWrite(0x30000n, bytes(0x43)); // no PASID: GPA 0x30000
    expect(m.guest.read(0x30000n, 1)[0]).toBe(0x43);
    expect(dmaFault(() => dev.dmaWrite(0x20000n, bytes(1), { pasid: 8 }))).toMatchObject({ name: 'PASID_ENTRY_P', pasid: 8 });
  });

  it('a page request instead of a fault for a PRI device; PAGE_RESPONSE goes back through the queue', () => {
    const { m, fd, dev, child, gpt, driver } = nestedSetup([{ name: 'dev0', ats: true, pri: true }]);
    dev.attachIoasid(child);
    fd.bindPgtable({ ioasid: child, addr: gpt.root, format: { kind: 'vtd-first-level', levels: 4 } });
    const f = dmaFault(() => dev.dmaWrite(0x55000n, bytes(1)));
    expect(f).toMatchObject({ pageRequest: true, name: 'FS_PAGING_ENTRY_P', iova: 0x55000n });
    const regs = m.iommu.registers();
    expect(regs.PQH_REG).toBe(regs.PQT_REG); // serviced
    expect(regs.PQT_REG).toBe(0x20n);
    const [pf] = fd.readFaults(child);
    expect(pf.kind).toBe('page-request');
    fd.pageResponse({ ioasid: child, id: pf.id, code: 'success' });
    expect(driver.unit.responses).toEqual([{ rid: 0x08, pasid: undefined, code: 0, prgi: f.prgi, lpig: true }]);
    expect(driver.qi.history.some((d) => d.type === 'pgrp-resp')).toBe(true);
  });

  it('VT-d has no user PASID-table format', () => {
    const { fd, parent } = nestedSetup();
    expectErrno(() => fd.createNesting({ parent, protocol: 'user-pasid-table' }), 'EOPNOTSUPP');
  });
});

describe('mdev and ENQCMD', () => {
  it('an mdev DMAs with the host PASID its attach got; the PASID entry lives under the parent RID', () => {
    const { m, driver } = vtdMachine({ devices: [{ name: 'pf' }, { name: 'm0', kind: 'mdev', parent: 'pf' }] });
    const fd = m.openIoasidFd();
    const md = m.device('m0');
    md.bindIoasidFd(fd, { label: 'm0' });
    const ioasid = fd.alloc({ protocol: 'map' });
    md.attachIoasid(ioasid);
    const va = m.vmm.mmap(0x1000n);
    fd.mapDma({ ioasid, iova: 0x8000n, vaddr: va, size: 0x1000n, read: true, write: true });
    md.dmaWrite(0x8000n, bytes(3));
    expect(m.vmm.read(va, 1)[0]).toBe(3);
    const hostPasid = md.wire(undefined).pasid;
    expect(hostPasid).toBeGreaterThan(0);
    const pe = driver.tables.readPasidEntry(0x08, hostPasid)!;
    expect((pe[0] >> 6n) & 7n).toBe(2n);
    // The pf shares the RID: its context entry exists, but nothing is attached at RID_PASID.
    expect(dmaFault(() => m.device('pf').dmaRead(0x8000n, 1)).name).toBe('PASID_ENTRY_P');
  });

  it('vSVA: ENQCMD in the guest, PASID translated by KVM, DMA through the nested table into guest memory', () => {
    const { m, driver } = vtdMachine({ devices: [{ name: 'pf' }, { name: 'wq', kind: 'mdev', parent: 'pf', enqcmd: true }] });
    const fd = m.openIoasidFd();
    const wq = m.device('wq');
    wq.bindIoasidFd(fd, { label: 'wq' });
    const parent = fd.alloc({ protocol: 'map' });
    fd.mapDma({ ioasid: parent, iova: 0n, vaddr: m.guest.vaddr, size: m.guest.size, read: true, write: true });
    wq.attachIoasid(parent);
    const child = fd.createNesting({ parent, protocol: 'user-pgtable' });
    wq.attachIoasid(child, { userPasid: 5 });
    const gpt = m.guest.createPageTable(driver.guest.pageTableFormat({ kind: 'vtd-first-level', levels: 4 }));
    const buf = m.guest.allocPages(0x1000n);
    gpt.map(0x600000n, buf, 0x1000n);
    fd.bindPgtable({ ioasid: child, addr: gpt.root, format: { kind: 'vtd-first-level', levels: 4 } });
    m.kvm.mapPasid({ guestPasid: 5, fd, ioasid: child });
    m.kvm.enqcmd(wq, 5, { iova: 0x600010n, data: bytes(9, 9) });
    expect([...m.guest.read(buf + 0x10n, 2)]).toEqual([9, 9]);
  });
});

describe('atomicity and release', () => {
  it('a map that fails on any allocation leaves frames and translations exactly as before', () => {
    const { m, fd, dev, ioasid } = setup();
    const va = m.vmm.mmap(0x10000n);
    everyAllocationFailure(m, () => fd.mapDma({ ioasid, iova: 0x123456000n, vaddr: va, size: 0x10000n, read: true, write: true }), {
      state: () => m.hostMemory.kernelFramesInUse,
      afterFailure: () => expect(dmaFault(() => dev.dmaRead(0x123456000n, 1)).name).toBe('SS_PAGING_ENTRY_P'),
    });
    expect(dev.dmaRead(0x12345f000n, 1)).toHaveLength(1);
  });

  it('attaching a new vPASID that fails allocating its PASID table changes nothing', () => {
    const { m, dev, child } = nestedSetup();
    const frames = m.hostMemory.kernelFramesInUse;
    m.injectAllocFailure(2); // 1: core's attachment record, 2: the PASID table
    expectErrno(() => dev.attachIoasid(child, { userPasid: 0x1000 }), 'ENOMEM');
    expect(m.hostMemory.kernelFramesInUse).toBe(frames);
    dev.attachIoasid(child, { userPasid: 0x1000 });
    expect(m.hostMemory.kernelFramesInUse).toBe(frames + 1);
  });

  it('closing the fd frees every table the driver built for it', () => {
    const { m } = vtdMachine();
    const base = m.hostMemory.kernelFramesInUse;
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd, { label: 'x' });
    const ioasid = fd.alloc({ protocol: 'map' });
    dev.attachIoasid(ioasid, { userPasid: 99 });
    const va = m.vmm.mmap(4n * MiB);
    fd.mapDma({ ioasid, iova: 0x40000000n, vaddr: va, size: 4n * MiB, read: true, write: true });
    expect(m.hostMemory.kernelFramesInUse).toBeGreaterThan(base);
    fd.close();
    // The context table of bus 0 stays (Linux keeps it for the IOMMU's lifetime).
    expect(m.hostMemory.kernelFramesInUse).toBe(base + 1);
  });
});
