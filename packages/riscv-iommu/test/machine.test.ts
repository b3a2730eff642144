/**
 * The driver and the unit together in a machine, read back from registers and memory only: the
 * registers of DESIGN §8 against GET_INFO, the device contexts the kernel writes (spec §2.1), vSVA
 * only through the guest's own PDT, page requests (§3.3) and their ATS.PRGR responses, the fault
 * queue, and the unit rebuilt from a memory image.
 */
import { describe, expect, it } from 'vitest';
import { DmaFault, createMachine, findVendor, type Machine } from '@ioasid/core';
import {
  CAP, DDTP, decodeCapabilities, decodeDeviceContext, decodePageRequest, decodeProcessContext, decodeQueueBase, pdi,
  type RiscvIommuDriver,
} from '../src/index.js';

const GiB = 1n << 30n;

function machine(devices = [{ name: 'dev0' }, { name: 'pri0', ats: true, pri: true }]): { m: Machine; drv: RiscvIommuDriver } {
  const m = createMachine({ vendor: 'riscv-iommu', devices, guestMemory: 64n << 20n });
  return { m, drv: m.driver as RiscvIommuDriver };
}

/** The device context of `rid`, found from ddtp by walking the 3-level DDT in memory (base format). */
function dcOf(m: Machine, rid: number): ReturnType<typeof decodeDeviceContext> {
  const regs = m.iommu.registers();
  expect(Number(regs.ddtp & 0xfn)).toBe(4); // 3LVL
  let a = Number((regs.ddtp >> 10n) & ((1n << 44n) - 1n)) * 4096;
  for (const [shift, bits] of [[16, 8], [7, 9]] as const) {
    const e = m.hostMemory.u64(a + ((rid >> shift) & ((1 << bits) - 1)) * 8);
    expect(e & 1n).toBe(1n);
    a = Number((e >> 10n) & ((1n << 44n) - 1n)) * 4096;
  }
  const pa = a + (rid & 0x7f) * 32;
  return decodeDeviceContext([0, 8, 16, 24].map((o) => m.hostMemory.u64(pa + o)));
}

function gpaSpace(m: Machine, devs: string[]) {
  const fd = m.openIoasidFd();
  for (const d of devs) m.device(d).bindIoasidFd(fd, { label: d });
  const gpa = fd.alloc({ protocol: 'map' });
  for (const d of devs) m.device(d).attachIoasid(gpa);
  fd.mapDma({ ioasid: gpa, iova: 0n, vaddr: m.guest.vaddr, size: m.guest.size, read: true, write: true });
  return { fd, gpa };
}

describe('registers (DESIGN §8, spec chapter 5)', () => {
  it('every register by its spec name; GET_INFO agrees with capabilities; reading has no side effect', () => {
    const { m } = machine();
    const r = m.iommu.registers();
    expect(Object.keys(r).sort()).toEqual(['capabilities', 'cqb', 'cqcsr', 'cqh', 'cqt', 'ddtp', 'fctl', 'fqb', 'fqcsr', 'fqh', 'fqt', 'ipsr', 'pqb', 'pqcsr', 'pqh', 'pqt'].sort());
    const caps = decodeCapabilities(r.capabilities);
    expect(Number(r.capabilities & 0xffn)).toBe(0x10);
    const info = m.device('pri0').getInfo();
    expect(info.formats).toEqual([39, 48, 57].filter((s) => caps.sv[s as 39]).map((mode) => ({ kind: 'riscv-sv', mode })));
    expect(info.pasidTableFormats).toEqual(['PD8', 'PD17', 'PD20'].map((mode) => ({ kind: 'riscv-pdt', mode })));
    expect(info.pasidBits).toBe(caps.pd20 ? 20 : 0);
    expect(info.ats).toBe(caps.ats);
    expect(info.enqcmd).toBe(false);
    // The widest G-stage (Sv57x4): every 59-bit GPA (spec §3.1.2); nothing of the kernel's lives in it.
    expect(info.permittedRanges).toEqual([{ start: 0n, last: (1n << 59n) - 1n }]);
    for (const q of ['cqcsr', 'fqcsr', 'pqcsr']) expect((r[q] >> 16n) & 1n, q).toBe(1n); // queue on
    expect(decodeQueueBase(r.cqb).entries).toBe(1024);
    expect(m.iommu.registers()).toEqual(r);
    expect(Number((r.capabilities >> BigInt(CAP.PAS.lo)) & 0x3fn)).toBe(56);
    expect(DDTP.PPN.lo).toBe(10);
  });

  it('GET_INFO follows capabilities: no PD modes → no PASID tables, pasidBits 0; no Sv → software nesting', () => {
    const m = createMachine({ vendor: 'riscv-iommu', riscv: { pd: [], sv: [] } });
    const info = m.device('dev0').getInfo();
    expect(info.pasidBits).toBe(0);
    expect(info.pasidTableFormats).toEqual([]);
    expect(info.protocols).toEqual(['map']);
    expect(info.nesting).toBe('software');
    const caps = decodeCapabilities(m.iommu.registers().capabilities);
    expect([caps.pd8, caps.pd17, caps.pd20, caps.sv[39], caps.sv[48], caps.sv[57]]).toEqual([false, false, false, false, false, false]);
  });
});

describe('device contexts the kernel writes (spec §2.1)', () => {
  it('map: iohgatp Sv57x4 with the IOASID GSCID and a 16 KiB aligned root, fsc Bare; user-pgtable: iosatp of the guest table and a PSCID', () => {
    const { m } = machine();
    const { fd, gpa } = gpaSpace(m, ['dev0']);
    const rid = m.device('dev0').rid;
    const dc = dcOf(m, rid);
    expect(dc.tc).toMatchObject({ V: true, PDTV: false, EN_ATS: false });
    expect(dc.iohgatp.MODE).toBe(10);
    expect(dc.iohgatp.PPN % 4).toBe(0);
    expect(dc.fsc).toEqual({ MODE: 0, PPN: 0 });
    const child = fd.createNesting({ parent: gpa, protocol: 'user-pgtable' });
    m.device('dev0').attachIoasid(child);
    expect(dcOf(m, rid).tc.V).toBe(false); // nothing bound yet: blocked
    const gt = m.guest.createPageTable(m.driver.guest!.pageTableFormat({ kind: 'riscv-sv', mode: 48 }));
    fd.bindPgtable({ ioasid: child, addr: gt.root, format: { kind: 'riscv-sv', mode: 48 } });
    const nested = dcOf(m, rid);
    expect(nested.fsc).toEqual({ MODE: 9, PPN: Number(gt.root >> 12n) });
    expect(nested.ta.PSCID).toBeGreaterThan(0);
    expect(nested.iohgatp).toEqual(dc.iohgatp);
  });

  it('vSVA: a PASID attach of a bound page table is EINVAL (a kernel PDT would be read by GPA through the G-stage, spec §2.3.2); the guest PDT carries the PASIDs', () => {
    const { m } = machine();
    const { fd, gpa } = gpaSpace(m, ['dev0']);
    const dev = m.device('dev0');
    const child = fd.createNesting({ parent: gpa, protocol: 'user-pgtable' });
    const before = m.hostMemory.framesInUse;
    expect(() => dev.attachIoasid(child, { userPasid: 5 })).toThrow(/EINVAL.*BIND_PASID_TABLE/s);
    expect(m.hostMemory.framesInUse).toBe(before);
    expect(dcOf(m, dev.rid)).toMatchObject({ tc: { V: true, PDTV: false }, fsc: { MODE: 0, PPN: 0 } });
    fd.free(child);

    // The same gVA through the guest's own PDT: every structure the unit reads for PASID 5 is guest RAM.
    const fmt = { kind: 'riscv-sv', mode: 39 } as const;
    const gt = m.guest.createPageTable(m.driver.guest!.pageTableFormat(fmt));
    const buf = m.guest.allocPages(4096n);
    m.guest.write(buf, new Uint8Array([1, 2, 3, 4]));
    gt.map(0x40000000n, buf, 4096n, { read: true, write: true });
    const ptf = { kind: 'riscv-pdt', mode: 'PD20' } as const;
    const pdt = m.driver.guest!.buildPasidTable!(m.guest, ptf, [{ pasid: 5, root: gt.root, pgtable: fmt }]);
    const pt = fd.createNesting({ parent: gpa, protocol: 'user-pasid-table' });
    dev.attachIoasid(pt);
    fd.bindPasidTable({ ioasid: pt, addr: pdt, format: ptf });
    expect([...dev.dmaRead(0x40000000n, 4, { pasid: 5 })]).toEqual([1, 2, 3, 4]);
    const dc = dcOf(m, dev.rid);
    expect(dc.tc).toMatchObject({ PDTV: true, DPE: false });
    expect(dc.fsc).toEqual({ MODE: 3, PPN: Number(pdt >> 12n) }); // PD20 at the guest's GPA
    let table = pdt;
    for (const i of [2, 1]) {
      const e = new DataView(m.guest.read(table + BigInt(pdi(5, i) * 8), 8).buffer).getBigUint64(0, true);
      table = ((e >> 10n) & ((1n << 44n) - 1n)) << 12n;
    }
    const pcb = new DataView(m.guest.read(table + BigInt(pdi(5, 0) * 16), 16).buffer);
    expect(decodeProcessContext([pcb.getBigUint64(0, true), pcb.getBigUint64(8, true)])).toMatchObject({ V: true, fsc: { MODE: 8, PPN: Number(gt.root >> 12n) } });
  });
});

describe('page requests (spec §3.3) and the fault queue (§3.2)', () => {
  it('a guest page fault with EN_PRI becomes a page-request record; PAGE_RESPONSE goes out as ATS.PRGR', () => {
    const { m, drv } = machine();
    const { fd, gpa } = gpaSpace(m, ['pri0']);
    const dev = m.device('pri0');
    const child = fd.createNesting({ parent: gpa, protocol: 'user-pgtable' });
    dev.attachIoasid(child);
    const fmt = { kind: 'riscv-sv', mode: 39 };
    const gt = m.guest.createPageTable(m.driver.guest!.pageTableFormat(fmt));
    fd.bindPgtable({ ioasid: child, addr: gt.root, format: fmt });
    expect(dcOf(m, dev.rid).tc).toMatchObject({ EN_ATS: true, EN_PRI: true });
    let f: DmaFault | undefined;
    try {
      dev.dmaWrite(0x7000n, new Uint8Array(8));
    } catch (e) {
      f = e as DmaFault;
    }
    expect(f?.record).toMatchObject({ name: 'WRITE_PAGE_FAULT', code: 15, pageRequest: true });
    const r = m.iommu.registers();
    expect(r.pqt).toBe(1n);
    const pq = decodeQueueBase(r.pqb);
    const rec = decodePageRequest([m.hostMemory.u64(pq.frame * 4096), m.hostMemory.u64(pq.frame * 4096 + 8)]);
    expect(rec).toMatchObject({ did: dev.rid, pid: undefined, write: true, read: false, last: true, addr: 0x7000n, prgi: f!.record.prgIndex });
    const [pending] = fd.readFaults(child);
    fd.pageResponse({ ioasid: child, id: pending.id, code: 'success' });
    expect(drv.unit.commands['ATS.PRGR']).toBe(1);
    expect(drv.unit.responses.at(-1)).toMatchObject({ rid: dev.rid, prgIndex: f!.record.prgIndex, code: 0 });
    expect(m.iommu.registers().pqh).toBe(1n); // the kernel consumed it
  });

  it('an unrecoverable fault is a 32-byte record at fqt; the kernel drains it on reset', () => {
    const { m } = machine();
    const { gpa } = gpaSpace(m, ['dev0']);
    void gpa;
    const dev = m.device('dev0');
    expect(() => dev.dmaRead(GiB, 4)).toThrow(DmaFault);
    const r = m.iommu.registers();
    expect(r.fqt).toBe(1n);
    const fq = decodeQueueBase(r.fqb);
    const hdr = m.hostMemory.u64(fq.frame * 4096);
    expect(Number(hdr & 0xfffn)).toBe(21); // READ_GUEST_PAGE_FAULT
    expect(Number((hdr >> 34n) & 0x3fn)).toBe(2); // untranslated read
    expect(Number(hdr >> 40n)).toBe(dev.rid);
    expect(m.hostMemory.u64(fq.frame * 4096 + 16)).toBe(GiB); // iotval
    expect(m.hostMemory.u64(fq.frame * 4096 + 24)).toBe(GiB); // iotval2: GPA >> 2 << 2
    dev.reset();
    expect(m.iommu.registers().fqh).toBe(1n);
  });
});

describe('unmap and the IOTLB', () => {
  it('UNMAP_DMA sends IOTINVAL.GVMA: the next DMA faults', () => {
    const { m, drv } = machine();
    const { fd, gpa } = gpaSpace(m, ['dev0']);
    const dev = m.device('dev0');
    dev.dmaRead(0x1000n, 4);
    const before = drv.unit.commands['IOTINVAL.GVMA'] ?? 0;
    fd.unmapDma({ ioasid: gpa, all: true });
    expect(drv.unit.commands['IOTINVAL.GVMA']).toBeGreaterThan(before);
    expect(() => dev.dmaRead(0x1000n, 4)).toThrow(DmaFault);
  });
});

describe('the unit alone over a memory image (VendorRegistration.hardware)', () => {
  it('rebuilt from registers(), it translates as the original unit does', () => {
    const { m } = machine();
    gpaSpace(m, ['dev0']);
    const rid = m.device('dev0').rid;
    const unit = findVendor('riscv-iommu').hardware!(m.hostMemory, m.iommu.registers());
    for (const f of [0, 1, 100, 16383, 16384, 1 << 20]) {
      const req = { rid, pasid: -1, iovaFrame: f, write: false, privileged: false };
      const a = m.driver.unit.translate!(req);
      const b = unit.translate!(req);
      expect(typeof b === 'number' ? b : b.name).toEqual(typeof a === 'number' ? a : a.name);
    }
    expect(() => findVendor('riscv-iommu').hardware!(m.hostMemory, { ...m.iommu.registers(), ddtp: undefined as unknown as bigint })).toThrow(/ddtp/);
  });
});

describe('dirty logging (capabilities.AMO_HWAD, DC.tc.GADE; spec §2.6)', () => {
  it("tracking on: GADE and leaves with D clear, the unit sets D on a write in memory, a clearing harvest re-arms it with IOTINVAL.GVMA; off: D set again, no GADE", () => {
    const { m, drv } = machine();
    const { fd, gpa } = gpaSpace(m, ['dev0']);
    const dev = m.device('dev0');
    expect(m.device('dev0').getInfo().dirtyTracking).toBe(true);
    expect(dcOf(m, dev.rid).tc.GADE).toBe(false);
    const leafPa = () => {
      const steps = fd.lookup(gpa, 0x3000n).steps;
      return Number(steps[steps.length - 1].entryAddr);
    };
    expect(m.hostMemory.u64(leafPa()) & 0x80n).toBe(0x80n); // not tracking: D preset, as Linux writes it
    fd.setDirtyTracking({ ioasid: gpa, enable: true });
    expect(dcOf(m, dev.rid).tc.GADE).toBe(true);
    expect(m.hostMemory.u64(leafPa()) & 0x80n).toBe(0n);
    dev.dmaRead(0x3000n, 4);
    expect(m.hostMemory.u64(leafPa()) & 0x80n).toBe(0n); // a read sets no D
    dev.dmaWrite(0x3000n, new Uint8Array([9]));
    expect(m.hostMemory.u64(leafPa()) & 0xc0n).toBe(0xc0n); // A and D
    const gvma = drv.unit.commands['IOTINVAL.GVMA'] ?? 0;
    const bitmap = fd.getDirtyBitmap({ ioasid: gpa, iova: 0n, size: 0x10000n, pageSize: 4096n });
    expect(bitmap[0]).toBe(0xff); // guest RAM is mapped with 2 MiB leaves: the leaf dirties every bit it covers
    expect(m.hostMemory.u64(leafPa()) & 0x80n).toBe(0n);
    expect(drv.unit.commands['IOTINVAL.GVMA']).toBeGreaterThan(gvma);
    dev.dmaWrite(0x3000n, new Uint8Array([9])); // the IOTLB entry is gone: the write walks and logs again
    expect(fd.getDirtyBitmap({ ioasid: gpa, iova: 0n, size: 0x10000n, pageSize: 4096n })[0]).toBe(0xff);
    fd.setDirtyTracking({ ioasid: gpa, enable: false });
    expect(dcOf(m, dev.rid).tc.GADE).toBe(false);
    expect(m.hostMemory.u64(leafPa()) & 0x80n).toBe(0x80n);
    dev.dmaWrite(0x3000n, new Uint8Array([9])); // GADE off and D set: the write goes through
  });
});
