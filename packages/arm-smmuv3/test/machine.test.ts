import { describe, expect, it } from 'vitest';
import { DmaFault, type Device, type DumpTable, type DumpEntry, type GuestPasidEntry, type IoasidFd, type Machine } from '@ioasid/core';
import { S2Domain, STE_WORDS, decodeSte, type SmmuV3Driver } from '../src/index.js';
import { catchFault, gpaSpace, guestData, MiB, open, pattern, smmuMachine } from './machine-helpers.js';

function leaves(t: DumpTable | null, out: DumpEntry[] = [], level = -1): DumpEntry[] {
  if (!t) return out;
  for (const e of t.entries) {
    if (e.child) leaves(e.child, out, level);
    else if (e.decoded.kind === 'leaf' && (level < 0 || t.level === level)) out.push(e);
  }
  return out;
}

function steOf(drv: SmmuV3Driver, sid: number) {
  const at = drv.strtab.steAddr(sid);
  const w = new Uint32Array(STE_WORDS);
  for (let k = 0; k < STE_WORDS; k++) w[k] = drv.host.u32(at + 4 * k);
  return decodeSte(w);
}

describe('5.1 kernel-managed IOASID: MAP_DMA and DMA through stage 2', () => {
  it('moves bytes both ways; the STE in memory is stage 2 with the domain VMID and S2TTB', () => {
    const { m, drv } = smmuMachine();
    const { fd, devs } = open(m, 'dev0');
    const [dev] = devs;
    expect(steOf(drv, dev.rid)).toMatchObject({ V: 1, Config: 0 }); // bound, not attached: abort
    const ioasid = fd.alloc({ protocol: 'map' });
    dev.attachIoasid(ioasid);
    const va = m.vmm.mmap(4n * MiB, { hugePages: '2M' });
    fd.mapDma({ ioasid, iova: 0x4000_0000n, vaddr: va, size: 4n * MiB, read: true, write: true });
    const data = pattern(1, 3000);
    dev.dmaWrite(0x4000_1800n, data);
    expect(m.vmm.read(va + 0x1800n, data.length)).toEqual(data);
    m.vmm.write(va + 0x20_0000n, pattern(2, 64));
    expect(dev.dmaRead(0x4020_0000n, 64)).toEqual(pattern(2, 64));
    const dump = fd.dumpPgtable(ioasid);
    const d = fd.ioasidObject(ioasid).domain as S2Domain;
    expect(steOf(drv, dev.rid)).toMatchObject({ V: 1, Config: 6, S2VMID: d.vmid, S2TTB: Number(dump.context!.S2TTB), S2T0SZ: 16, S2SL0: 2, S2AA64: 1, S2R: 1 });
  });

  it('DUMP shows 2 MiB blocks for a huge-page map and 4 KiB pages for a scattered one, and their bytes are what host memory holds', () => {
    const { m } = smmuMachine();
    const { fd, devs } = open(m, 'dev0');
    const ioasid = fd.alloc({ protocol: 'map' });
    devs[0].attachIoasid(ioasid);
    const huge = m.vmm.mmap(4n * MiB, { hugePages: '2M' });
    const small = m.vmm.mmap(64n * 1024n);
    fd.mapDma({ ioasid, iova: 0x4000_0000n, vaddr: huge, size: 4n * MiB, read: true, write: true });
    fd.mapDma({ ioasid, iova: 0x5000_0000n, vaddr: small, size: 64n * 1024n, read: true, write: false });
    const all = leaves(fd.dumpPgtable(ioasid).root);
    const blocks = all.filter((e) => e.decoded.fields.type === 'block');
    const pages = all.filter((e) => e.decoded.fields.type === 'page');
    expect(blocks.map((e) => e.iova)).toEqual([0x4000_0000n, 0x4020_0000n]);
    expect(pages).toHaveLength(16);
    for (const e of all) {
      const bytes = m.hostMemory.read(e.entryAddr, 8);
      expect(new DataView(bytes.buffer).getBigUint64(0, true)).toBe(e.raw);
    }
    expect(pages.every((e) => e.decoded.fields.S2AP === 1)).toBe(true); // read-only map: HAP_READ only
    const look = fd.lookup(ioasid, 0x4020_1234n);
    expect(look.pageSize).toBe(2n * MiB);
    expect(look.steps.map((s) => s.stage)).toEqual(['stage-2', 'stage-2', 'stage-2']);
    expect(look.output! & 0xfffffn).toBe(0x01234n);
  });

  it('UNMAP_DMA invalidates the TLB (TLBI_S2_IPA) so the DMA faults at once; ATS devices also get ATC_INV', () => {
    const { m, drv } = smmuMachine();
    const { fd, devs } = open(m, 'dev1');
    const ioasid = fd.alloc({ protocol: 'map' });
    devs[0].attachIoasid(ioasid);
    const va = m.vmm.mmap(2n * MiB, { hugePages: '2M' });
    fd.mapDma({ ioasid, iova: 0x20_0000n, vaddr: va, size: 2n * MiB, read: true, write: true });
    devs[0].dmaRead(0x20_0000n, 16);
    expect(drv.unit.endpoints.atcEntries(devs[0].rid)).toBe(1);
    const before = { tlbi: drv.cmdq.count('TLBI_S2_IPA'), atc: drv.cmdq.count('ATC_INV') };
    expect(fd.unmapDma({ ioasid, iova: 0x20_0000n, size: 2n * MiB })).toBe(2n * MiB);
    expect(drv.cmdq.count('TLBI_S2_IPA')).toBeGreaterThan(before.tlbi);
    expect(drv.cmdq.count('ATC_INV')).toBeGreaterThan(before.atc);
    const r = catchFault(() => devs[0].dmaRead(0x20_0000n, 16));
    expect(r).toMatchObject({ name: 'F_TRANSLATION', s2: true, sid: devs[0].rid });
    const faults = fd.readFaults(ioasid);
    expect(faults).toHaveLength(1);
    expect(faults[0]).toMatchObject({ kind: 'unrecoverable', label: 'label-dev1' });
  });

  it('a table change the driver does not invalidate stays visible (stale TLB) until INVALIDATE_CACHE', () => {
    const { m } = smmuMachine();
    const { fd, devs } = open(m, 'dev0');
    const ioasid = fd.alloc({ protocol: 'map' });
    devs[0].attachIoasid(ioasid);
    const va = m.vmm.mmap(64n * 1024n);
    fd.mapDma({ ioasid, iova: 0x10_0000n, vaddr: va, size: 64n * 1024n, read: true, write: true });
    devs[0].dmaRead(0x10_3000n, 4);
    const d = fd.ioasidObject(ioasid).domain as S2Domain;
    d.table.unmap(0x103, 1); // a buggy driver: entry gone from memory, no TLBI
    expect(fd.lookup(ioasid, 0x10_3000n).output).toBeNull(); // the hardware view shows memory...
    expect(() => devs[0].dmaRead(0x10_3000n, 4)).not.toThrow(); // ...the TLB still translates
    fd.invalidateCache({ ioasid, iova: 0x10_3000n, size: 0x1000n });
    expect(() => devs[0].dmaRead(0x10_3000n, 4)).toThrow(DmaFault);
  });

  it('a device with no attachment aborts silently (STE Config abort); an unknown StreamID is C_BAD_STE', () => {
    const { m, drv } = smmuMachine();
    open(m, 'dev0');
    expect(drv.translate({ rid: 0x08, pasid: -1, iovaFrame: 1, write: false, privileged: false })).toMatchObject({ name: 'ABORT', recorded: false });
    expect(drv.translate({ rid: 0x0a, pasid: -1, iovaFrame: 1, write: false, privileged: false })).toMatchObject({ name: 'C_BAD_STE', recorded: true });
    expect(drv.evtq.log.at(-1)).toMatchObject({ name: 'C_BAD_STE', SID: 0x0a });
  });
});

/** CREATE_NESTING of a guest CD table under `parent`, attached to `dev` and bound to a table of `entries`. */
function guestCds(m: Machine, fd: IoasidFd, parent: number, dev: Device, layout: 'linear' | 'two-level', s1cdmax: number, entries: GuestPasidEntry[]) {
  const child = fd.createNesting({ parent, protocol: 'user-pasid-table' });
  dev.attachIoasid(child);
  const format = { kind: 'arm-smmuv3-cd', layout, s1cdmax };
  const table = m.driver.guest!.buildPasidTable!(m.guest, format, entries);
  fd.bindPasidTable({ ioasid: child, addr: table, format });
  return { child, table, format };
}

describe('hardware nesting on SMMUv3 is 5.7: the guest owns its CD table, non-PASID traffic goes through its CD 0 (STE.S1DSS = 0b10)', () => {
  for (const granule of [4096, 16384, 65536] as const) {
    it(`${granule / 1024}K granule: gIOVA → GPA → host, read-only PTE, guest change visible only after INVALIDATE_CACHE`, () => {
      const { m, drv } = smmuMachine();
      const { fd, devs } = open(m, 'dev0');
      const [dev] = devs;
      const parent = gpaSpace(m, fd, [dev]);
      const format = { kind: 'arm-lpae-s1', granule, ias: 48 };
      const gt = m.guest.createPageTable(m.driver.guest!.pageTableFormat(format));
      const g = BigInt(granule);
      const a = guestData(m, g, 3, g);
      const b = guestData(m, g, 4, g);
      gt.map(3n * g, a.gpa, g, { read: true, write: true });
      gt.map(5n * g, b.gpa, g, { read: true, write: false });
      const { child, table } = guestCds(m, fd, parent, dev, 'linear', 0, [{ pasid: 0, root: gt.root, pgtable: format, asid: 21 }]);
      // The STE is nested (Config 0b111) and points at the guest's table by GPA (STE.S1ContextPtr is an IPA with stage 2 on).
      expect(steOf(drv, dev.rid)).toMatchObject({ Config: 7, S1DSS: 2, S1STALLD: 1, S1Fmt: 0, S1CDMax: 0, S1ContextPtr: Number(table) });
      expect(dev.dmaRead(3n * g, 64)).toEqual(a.bytes.subarray(0, 64));
      dev.dmaWrite(3n * g + 0x100n, pattern(9, 32));
      expect(m.guest.read(a.gpa + 0x100n, 32)).toEqual(pattern(9, 32));
      expect(catchFault(() => dev.dmaWrite(5n * g, pattern(1, 4)))).toMatchObject({ name: 'F_PERMISSION', s2: false, stage: 1 });
      expect(catchFault(() => dev.dmaRead(7n * g, 4))).toMatchObject({ name: 'F_TRANSLATION', stage: 1 });
      // The guest unmaps and forgets to invalidate: the old translation stays.
      gt.unmap(3n * g, g);
      expect(() => dev.dmaRead(3n * g, 4)).not.toThrow();
      drv.cmdq.trace = [];
      fd.invalidateCache({ ioasid: child, iova: 3n * g, size: g });
      expect(drv.cmdq.trace.find((c) => c.op === 'TLBI_NH_VA')!.fields).toMatchObject({ ASID: 21 }); // the ASID of the guest's CD 0
      expect(catchFault(() => dev.dmaRead(3n * g, 4))).toMatchObject({ name: 'F_TRANSLATION' });
      // LOOKUP decodes the guest table (stage 1, GPAs) then the parent (stage 2).
      const look = fd.lookup(child, 5n * g + 0x10n);
      expect(look.output).not.toBeNull();
      expect(look.perms).toEqual({ read: true, write: false });
      const s1 = look.steps.filter((s) => s.stage === 'stage-1');
      const s2 = look.steps.filter((s) => s.stage === 'stage-2');
      expect(s1.length).toBeGreaterThan(1);
      expect(s2.length).toBeGreaterThan(0);
      for (const s of s1) expect(new DataView(m.guest.read(s.entryAddr, 8).buffer).getBigUint64(0, true)).toBe(s.raw);
      for (const s of s2) expect(new DataView(m.hostMemory.read(s.entryAddr, 8).buffer).getBigUint64(0, true)).toBe(s.raw);
      const dump = fd.dumpPgtable(child);
      expect(dump.format).toBe('arm-smmuv3-cd-linear');
      expect(dump.context).toMatchObject({ bound: true });
      expect(dump.children!.map((c) => [c.context!.SubstreamID, c.format])).toEqual([[0, `arm-lpae-s1-${granule / 1024}k`]]);
    });
  }

  it('rebinding replaces the table and flushes the VMID (TLBI_NH_ALL); detaching returns the RID to the GPA space', () => {
    const { m, drv } = smmuMachine();
    const { fd, devs } = open(m, 'dev0');
    const [dev] = devs;
    const parent = gpaSpace(m, fd, [dev]);
    const S1 = { kind: 'arm-lpae-s1', granule: 4096, ias: 48 };
    const a = guestData(m, 4096n, 5);
    const b = guestData(m, 4096n, 6);
    const t1 = m.guest.createPageTable(m.driver.guest!.pageTableFormat(S1));
    const t2 = m.guest.createPageTable(m.driver.guest!.pageTableFormat(S1));
    t1.map(0x1000n, a.gpa, 4096n);
    t2.map(0x1000n, b.gpa, 4096n);
    const { child, format } = guestCds(m, fd, parent, dev, 'linear', 0, [{ pasid: 0, root: t1.root, pgtable: S1 }]);
    expect(dev.dmaRead(0x1000n, 8)).toEqual(a.bytes.subarray(0, 8));
    const second = m.driver.guest!.buildPasidTable!(m.guest, format, [{ pasid: 0, root: t2.root, pgtable: S1 }]);
    const n = drv.cmdq.count('TLBI_NH_ALL');
    fd.bindPasidTable({ ioasid: child, addr: second, format });
    expect(drv.cmdq.count('TLBI_NH_ALL')).toBe(n + 1);
    expect(steOf(drv, dev.rid).S1ContextPtr).toBe(Number(second));
    expect(dev.dmaRead(0x1000n, 8)).toEqual(b.bytes.subarray(0, 8));
    dev.detachIoasid(child);
    expect(steOf(drv, dev.rid)).toMatchObject({ Config: 6 });
    expect(dev.dmaRead(a.gpa, 8)).toEqual(a.bytes.subarray(0, 8));
    fd.free(child);
  });

  it('a parent unmap flushes the nested translations made through it (TLBI_S12_VMALL on the child\'s VMID)', () => {
    const { m, drv } = smmuMachine();
    const { fd, devs } = open(m, 'dev0');
    const [dev] = devs;
    const parent = gpaSpace(m, fd, [dev]);
    const S1 = { kind: 'arm-lpae-s1', granule: 4096, ias: 48 };
    const a = guestData(m, 4096n, 5);
    const t = m.guest.createPageTable(m.driver.guest!.pageTableFormat(S1));
    t.map(0x1000n, a.gpa, 4096n);
    guestCds(m, fd, parent, dev, 'linear', 0, [{ pasid: 0, root: t.root, pgtable: S1 }]);
    dev.dmaRead(0x1000n, 8);
    const vmid = steOf(drv, dev.rid).S2VMID;
    drv.cmdq.trace = [];
    fd.unmapDma({ ioasid: parent, all: true });
    expect(drv.cmdq.trace.some((c) => c.op === 'TLBI_S12_VMALL' && c.fields.VMID === vmid)).toBe(true);
    expect(() => dev.dmaRead(0x1000n, 8)).toThrow(DmaFault);
  });
});

describe('5.5 vSVA on SMMUv3: a PASID is a CD of the guest\'s own table', () => {
  it('PASID-tagged DMA uses the table its CD names; a SubstreamID with no valid CD is C_BAD_CD (SMMUv3 §7.3.10)', () => {
    const { m, drv } = smmuMachine();
    const { fd, devs } = open(m, 'dev0');
    const [dev] = devs;
    const parent = gpaSpace(m, fd, [dev]);
    const S1 = { kind: 'arm-lpae-s1', granule: 4096, ias: 48 };
    const a = guestData(m, 4096n, 11);
    const t = m.guest.createPageTable(m.driver.guest!.pageTableFormat(S1));
    t.map(0x7000_0000n, a.gpa, 4096n);
    const { child } = guestCds(m, fd, parent, dev, 'two-level', 20, [{ pasid: 7, root: t.root, pgtable: S1 }]);
    expect(steOf(drv, dev.rid)).toMatchObject({ Config: 7, S1DSS: 2, S1CDMax: 20, S1Fmt: 2 });
    expect(dev.dmaRead(0x7000_0000n, 16, { pasid: 7 })).toEqual(a.bytes.subarray(0, 16));
    expect(catchFault(() => dev.dmaRead(0x7000_0000n, 16, { pasid: 8 }))).toMatchObject({ name: 'C_BAD_CD', pasid: 8 });
    dev.detachIoasid(child);
    expect(steOf(drv, dev.rid)).toMatchObject({ Config: 6 });
  });

  it('a guest CD table is the device\'s whole PASID space: attaching it at a PASID is refused', () => {
    const { m } = smmuMachine();
    const { fd, devs } = open(m, 'dev0');
    const parent = gpaSpace(m, fd, devs);
    const child = fd.createNesting({ parent, protocol: 'user-pasid-table' });
    expect(() => devs[0].attachIoasid(child, { userPasid: 0 })).toThrow(/whole PASID space/);
    expect(() => devs[0].attachIoasid(child, { userPasid: 7 })).toThrow(/whole PASID space/);
  });
});

describe('page requests: a PRI-capable device faulting on a guest table', () => {
  it('the fault becomes a page request (PRI queue); PAGE_RESPONSE sends CMD_PRI_RESP to the endpoint', () => {
    const { m, drv } = smmuMachine();
    const { fd, devs } = open(m, 'dev1');
    const [dev] = devs;
    const parent = gpaSpace(m, fd, [dev]);
    const format = { kind: 'arm-lpae-s1', granule: 4096, ias: 48 };
    const t = m.guest.createPageTable(m.driver.guest!.pageTableFormat(format));
    const { child } = guestCds(m, fd, parent, dev, 'linear', 4, [{ pasid: 3, root: t.root, pgtable: format }]);
    const rec = catchFault(() => dev.dmaWrite(0x5000n, pattern(1, 4), { pasid: 3 }));
    expect(rec).toMatchObject({ name: 'F_TRANSLATION', pageRequest: true, recorded: false });
    expect(drv.priq!.log.at(-1)).toMatchObject({ SID: dev.rid, SSID: 3, SSID_V: 1, PERM_WRITE: 1, ADDR: 5 });
    const [f] = fd.readFaults(child);
    // The SubstreamID is the guest's own PASID (its CD table): READ_FAULTS names it, as the PRI queue gave it.
    expect(f).toMatchObject({ kind: 'page-request', iova: 0x5000n, pasid: 3, record: { pasid: 3 } });
    // The guest maps the page and answers; the device may retry.
    const a = guestData(m, 4096n, 2);
    t.map(0x5000n, a.gpa, 4096n);
    fd.pageResponse({ ioasid: child, id: f.id, code: 'success' });
    expect(drv.cmdq.count('PRI_RESP')).toBe(1);
    expect(drv.unit.endpoints.get(dev.rid).responses.at(-1)).toMatchObject({ prgIndex: rec.prgIndex, ssid: 3, code: 2 });
    dev.dmaWrite(0x5000n, pattern(1, 4), { pasid: 3 });
    expect(m.guest.read(a.gpa, 4)).toEqual(pattern(1, 4));
  });

  it('a fault on the kernel-managed stage 2 is never a page request', () => {
    const { m } = smmuMachine();
    const { fd, devs } = open(m, 'dev1');
    const ioasid = fd.alloc({ protocol: 'map' });
    devs[0].attachIoasid(ioasid);
    const rec = catchFault(() => devs[0].dmaRead(0x1000n, 4));
    expect(rec.pageRequest).toBeUndefined();
    expect(fd.readFaults(ioasid)[0].kind).toBe('unrecoverable');
  });
});

describe('the hardware view has no side effect', () => {
  it('registers(), DUMP and LOOKUP fill no cache, clear none and write no memory', () => {
    const { m, drv } = smmuMachine();
    const { fd, devs } = open(m, 'dev1');
    const [dev] = devs;
    const parent = gpaSpace(m, fd, [dev]);
    const format = { kind: 'arm-lpae-s1', granule: 4096, ias: 48 };
    const t = m.guest.createPageTable(m.driver.guest!.pageTableFormat(format));
    const a = guestData(m, 4096n, 1);
    t.map(0x1000n, a.gpa, 4096n);
    t.map(0x2000n, a.gpa, 4096n);
    const { child } = guestCds(m, fd, parent, dev, 'linear', 0, [{ pasid: 0, root: t.root, pgtable: format }]);
    dev.dmaRead(0x1000n, 4);
    const state = () => ({
      tlb: drv.unit.tlb.size,
      cfg: drv.unit.configCache.size,
      atc: drv.unit.endpoints.atcEntries(dev.rid),
      regs: m.iommu.registers(),
      root: m.hostMemory.read(Number(fd.dumpPgtable(parent).root!.tableAddr), 4096),
    });
    const before = state();
    for (let i = 0; i < 3; i++) {
      m.iommu.registers();
      fd.dumpPgtable(parent);
      fd.dumpPgtable(child);
      fd.lookup(child, 0x2000n);
      fd.lookup(parent, a.gpa);
    }
    expect(state()).toEqual(before);
    // The un-walked page is still a TLB miss for the hardware afterwards.
    const misses = drv.unit.tlb.misses;
    dev.dmaRead(0x2000n, 4);
    expect(drv.unit.tlb.misses).toBe(misses + 1);
  });
});
