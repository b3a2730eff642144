/**
 * SET_DIRTY_TRACKING / GET_DIRTY_BITMAP on an SMMUv3 machine, end to end through core: the unit
 * logs DMA writes in the map IOASID's leaves in memory (STE.S2HD, DBM), and the driver harvests
 * them (ptHarvestDirty with the LPAE format's dirty/clearDirty hooks). The cases follow iommufd's
 * selftest iommufd_dirty_tracking (tools/testing/selftests/iommu/iommufd.c), as the mock's do.
 */
import { describe, expect, it } from 'vitest';
import { HI_DBM, S2_AP_WRITE, decodeCd, decodeSte } from '../src/index.js';
import { MiB, gpaSpace, open, smmuMachine } from './machine-helpers.js';

const PAGE = 4096n;
const BASE = 0x4000_0000n;

function tracked() {
  const { m, drv } = smmuMachine();
  const { fd, devs } = open(m, 'dev0', 'dev1');
  const [dev, ats] = devs;
  const ioasid = fd.alloc({ protocol: 'map' });
  dev.attachIoasid(ioasid);
  ats.attachIoasid(ioasid);
  const va = m.vmm.mmap(4n * MiB, { hugePages: '2M' });
  const va4k = m.vmm.mmap(64n * PAGE);
  fd.mapDma({ ioasid, iova: BASE, vaddr: va, size: 2n * MiB }); // one 2 MiB block
  fd.mapDma({ ioasid, iova: BASE + 2n * MiB, vaddr: va4k, size: 64n * PAGE }); // 64 pages of 4 KiB
  return { m, drv, fd, dev, ats, ioasid };
}

function setBits(b: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < b.length * 8; i++) if (b[i >> 3] & (1 << (i & 7))) out.push(i);
  return out;
}

/** The leaf descriptor of `iova` in host memory (low and high words). */
function leaf(t: ReturnType<typeof tracked>, iova: bigint): { lo: number; hi: number } {
  const step = t.fd.lookup(t.ioasid, iova).steps.at(-1)!;
  const a = Number(step.entryAddr);
  return { lo: t.m.hostMemory.u32(a), hi: t.m.hostMemory.u32(a + 4) };
}

describe('SMMUv3 dirty tracking (iommufd_dirty_tracking)', () => {
  it('GET_INFO says dirtyTracking from IDR0.HTTU = 2; CHECK_EXTENSION is 1; a unit without HTTU says false', () => {
    const { m, fd, dev, ioasid } = tracked();
    expect(m.iommu.registers().IDR0 & 0xc0n).toBe(0x80n);
    expect(dev.getInfo().dirtyTracking).toBe(true);
    expect(fd.getInfo(ioasid).dirtyTracking).toBe(true);
    expect(fd.checkExtension('dirty-tracking')).toBe(1);
    const old = smmuMachine({ smmuv3: { features: { httu: 1 } } } as never);
    expect(old.m.iommu.registers().IDR0 & 0xc0n).toBe(0x40n);
    expect(old.m.device('dev0').getInfo().dirtyTracking).toBe(false);
  });

  it('enabling sets S2HA/S2HD in the STE and makes writable leaves writable-clean; disabling undoes both', () => {
    const t = tracked();
    const { fd, ioasid, drv } = t;
    const steOf = () => decodeSte(drv.strtab.readSte(t.dev.desc.rid));
    expect(steOf()).toMatchObject({ S2HA: 0, S2HD: 0 });
    expect(leaf(t, BASE + 2n * MiB).hi & HI_DBM).toBe(0);
    fd.setDirtyTracking({ ioasid, enable: true });
    expect(steOf()).toMatchObject({ Config: 0b110, S2HA: 1, S2HD: 1 });
    const l = leaf(t, BASE + 2n * MiB);
    expect([l.hi & HI_DBM, l.lo & S2_AP_WRITE]).toEqual([HI_DBM, 0]);
    fd.setDirtyTracking({ ioasid, enable: false });
    expect(steOf()).toMatchObject({ S2HA: 0, S2HD: 0 });
    const o = leaf(t, BASE + 2n * MiB);
    expect([o.hi & HI_DBM, o.lo & S2_AP_WRITE]).toEqual([0, S2_AP_WRITE]);
  });

  it('set_dirty_tracking: a write is logged only while on, a read never', () => {
    const { fd, dev, ioasid } = tracked();
    const get = () => setBits(fd.getDirtyBitmap({ ioasid, iova: BASE, size: 4n * MiB, pageSize: PAGE }));
    dev.dmaWrite(BASE + 2n * MiB, new Uint8Array([1]));
    fd.setDirtyTracking({ ioasid, enable: true });
    expect(get()).toEqual([]);
    dev.dmaRead(BASE + 2n * MiB + PAGE, 4);
    dev.dmaWrite(BASE + 2n * MiB + 3n * PAGE + 5n, new Uint8Array([1, 2]));
    expect(get()).toEqual([512 + 3]);
    fd.setDirtyTracking({ ioasid, enable: false });
    dev.dmaWrite(BASE + 2n * MiB + 4n * PAGE, new Uint8Array([1]));
    expect(get).toThrow(/dirty tracking is off/); // no bitmap while off
    fd.setDirtyTracking({ ioasid, enable: true });
    expect(get()).toEqual([]); // the write made while off was not logged
  });

  it('a 2 MiB block dirties every bit it covers; read-and-clear, then a new write sets it again', () => {
    const { fd, dev, ioasid } = tracked();
    fd.setDirtyTracking({ ioasid, enable: true });
    dev.dmaWrite(BASE + 0x1234n, new Uint8Array([7]));
    expect(setBits(fd.getDirtyBitmap({ ioasid, iova: BASE, size: 4n * MiB, pageSize: PAGE }))).toEqual([...Array(512).keys()]);
    expect(setBits(fd.getDirtyBitmap({ ioasid, iova: BASE, size: 4n * MiB, pageSize: PAGE }))).toEqual([]);
    dev.dmaWrite(BASE + 0x1234n, new Uint8Array([8]));
    expect(setBits(fd.getDirtyBitmap({ ioasid, iova: BASE, size: 2n * MiB, pageSize: 2n * MiB }))).toEqual([0]);
  });

  it('noClear keeps the bits; the dirty state is S2AP[1] of the DBM leaf in memory', () => {
    const t = tracked();
    const { fd, dev, ioasid } = t;
    fd.setDirtyTracking({ ioasid, enable: true });
    const at = BASE + 2n * MiB + 9n * PAGE;
    dev.dmaWrite(at, new Uint8Array([1]));
    expect(leaf(t, at).lo & S2_AP_WRITE).toBe(S2_AP_WRITE);
    for (let k = 0; k < 2; k++) expect(setBits(fd.getDirtyBitmap({ ioasid, iova: BASE + 2n * MiB, size: 64n * PAGE, pageSize: PAGE, noClear: true }))).toEqual([9]);
    expect(setBits(fd.getDirtyBitmap({ ioasid, iova: BASE + 2n * MiB, size: 64n * PAGE, pageSize: PAGE }))).toEqual([9]);
    expect(leaf(t, at).lo & S2_AP_WRITE).toBe(0);
    expect(leaf(t, at).hi & HI_DBM).toBe(HI_DBM);
  });

  it('a TLB entry does not hide a write after clearing (the clear invalidates; a read-filled entry grants no write)', () => {
    const { fd, dev, ioasid } = tracked();
    fd.setDirtyTracking({ ioasid, enable: true });
    const at = BASE + 2n * MiB + 5n * PAGE;
    const get = () => setBits(fd.getDirtyBitmap({ ioasid, iova: BASE + 2n * MiB, size: 64n * PAGE, pageSize: PAGE }));
    dev.dmaWrite(at, new Uint8Array([1])); // fills the TLB with a writable entry
    expect(get()).toEqual([5]);
    dev.dmaWrite(at, new Uint8Array([2])); // would hit a stale writable entry if the clear had not invalidated
    expect(get()).toEqual([5]);
    dev.dmaRead(at + PAGE, 1); // a read fills a read-only entry for page 6
    dev.dmaWrite(at + PAGE, new Uint8Array([3]));
    expect(get()).toEqual([6]);
  });

  it('an ATS device: its ATC does not hide a write after clearing either', () => {
    const { fd, ats, ioasid } = tracked();
    fd.setDirtyTracking({ ioasid, enable: true });
    const at = BASE + 2n * MiB + 7n * PAGE;
    const get = () => setBits(fd.getDirtyBitmap({ ioasid, iova: BASE + 2n * MiB, size: 64n * PAGE, pageSize: PAGE }));
    ats.dmaRead(at, 1);
    ats.dmaWrite(at, new Uint8Array([1]));
    expect(get()).toEqual([7]);
    ats.dmaWrite(at, new Uint8Array([2]));
    expect(get()).toEqual([7]);
  });

  it('a traced walk of a write (device.traceDma) says the write is allowed and writes nothing', () => {
    const t = tracked();
    const { fd, dev, ioasid, m } = t;
    fd.setDirtyTracking({ ioasid, enable: true });
    const at = BASE + 2n * MiB + 11n * PAGE;
    const before = leaf(t, at);
    const snapshot = m.hostMemory.read(fd.lookup(ioasid, at).steps.at(-1)!.entryAddr & ~0xfffn, 4096);
    const tr = dev.traceDma(at, { write: true })!;
    expect(tr.perms).toEqual({ read: true, write: true });
    expect(leaf(t, at)).toEqual(before);
    expect(m.hostMemory.read(fd.lookup(ioasid, at).steps.at(-1)!.entryAddr & ~0xfffn, 4096)).toEqual(snapshot);
    expect(setBits(fd.getDirtyBitmap({ ioasid, iova: at, size: PAGE, pageSize: PAGE }))).toEqual([]);
  });

  it('mapping while tracking writes writable-clean leaves; unmapped ranges read clean', () => {
    const t = tracked();
    const { fd, dev, ioasid, m } = t;
    fd.setDirtyTracking({ ioasid, enable: true });
    const va = m.vmm.mmap(4n * PAGE);
    const iova = 0x8000_0000n;
    fd.mapDma({ ioasid, iova, vaddr: va, size: 4n * PAGE });
    expect(leaf(t, iova).hi & HI_DBM).toBe(HI_DBM);
    expect(leaf(t, iova).lo & S2_AP_WRITE).toBe(0);
    dev.dmaWrite(iova + 2n * PAGE, new Uint8Array([1]));
    expect(setBits(fd.getDirtyBitmap({ ioasid, iova, size: 4n * PAGE, pageSize: PAGE }))).toEqual([2]);
    expect(setBits(fd.getDirtyBitmap({ ioasid, iova: 0x9000_0000n, size: 2n * MiB, pageSize: PAGE }))).toEqual([]);
  });

  it('PASID traffic through the stage 1 copy (CD.HA/HD, as Linux tracks stage 1): logged, and the CDs follow enable and disable', () => {
    const t = tracked();
    const { m, fd, dev, ioasid, drv } = t;
    const other = fd.alloc({ protocol: 'map' });
    dev.attachIoasid(other, { userPasid: 9 });
    const va = m.vmm.mmap(16n * PAGE);
    fd.mapDma({ ioasid: other, iova: BASE, vaddr: va, size: 16n * PAGE });
    const ste = decodeSte(drv.strtab.readSte(dev.desc.rid));
    expect(ste).toMatchObject({ Config: 0b101 });
    const l1 = m.hostMemory.u64(ste.S1ContextPtr);
    const cdAt = (n: number) => {
      const w = new Uint32Array(16);
      for (let k = 0; k < 16; k++) w[k] = m.hostMemory.u32(Number(l1 & 0xf_ffff_ffff_f000n) + n * 64 + 4 * k);
      return decodeCd(w);
    };
    expect(cdAt(9)).toMatchObject({ HA: 0, HD: 0 });
    fd.setDirtyTracking({ ioasid: other, enable: true });
    expect(cdAt(9)).toMatchObject({ V: 1, HA: 1, HD: 1 });
    expect(cdAt(0)).toMatchObject({ V: 1, HA: 0, HD: 0 }); // the StreamID's own space is not tracking
    dev.dmaRead(BASE + 3n * PAGE, 1, { pasid: 9 });
    dev.dmaWrite(BASE + 3n * PAGE, new Uint8Array([1]), { pasid: 9 });
    dev.dmaWrite(BASE + 3n * PAGE, new Uint8Array([1])); // the StreamID's space: not this IOASID
    expect(setBits(fd.getDirtyBitmap({ ioasid: other, iova: BASE, size: 16n * PAGE, pageSize: PAGE }))).toEqual([3]);
    fd.setDirtyTracking({ ioasid: other, enable: false });
    expect(cdAt(9)).toMatchObject({ V: 1, HA: 0, HD: 0 });
    dev.dmaWrite(BASE + 4n * PAGE, new Uint8Array([1]), { pasid: 9 });
    fd.setDirtyTracking({ ioasid: other, enable: true });
    expect(setBits(fd.getDirtyBitmap({ ioasid: other, iova: BASE, size: 16n * PAGE, pageSize: PAGE }))).toEqual([]);
  });

  it('smmuv3.features.httu is 0, 1 or 2 (SMMU_IDR0.HTTU); 3 is EINVAL naming it', () => {
    expect(() => smmuMachine({ smmuv3: { features: { httu: 3 } } } as never)).toThrow(/smmuv3\.features\.httu/);
  });

  it('nesting: a guest DMA through its own stage 1 is logged in the parent (the nested STE carries S2HD)', () => {
    const { m, drv } = smmuMachine();
    const { fd, devs } = open(m, 'dev0');
    const [dev] = devs;
    const gpa = gpaSpace(m, fd, devs);
    const cds = fd.createNesting({ parent: gpa, protocol: 'user-pasid-table' });
    dev.attachIoasid(cds);
    const info = dev.getInfo();
    const pt = m.guest.createPageTable(drv.guest.pageTableFormat(info.formats[0]));
    pt.map(0x1000_0000n, 0x30_0000n, 0x1000n);
    const table = drv.guest.buildPasidTable!(m.guest, info.pasidTableFormats[0], [{ pasid: 1, root: pt.root, pgtable: info.formats[0] }]);
    fd.bindPasidTable({ ioasid: cds, addr: table, format: info.pasidTableFormats[0] });
    fd.setDirtyTracking({ ioasid: gpa, enable: true });
    expect(decodeSte(drv.strtab.readSte(dev.desc.rid))).toMatchObject({ Config: 0b111, S2HA: 1, S2HD: 1 });
    const get = () => setBits(fd.getDirtyBitmap({ ioasid: gpa, iova: 0n, size: 8n * MiB, pageSize: 2n * MiB }));
    dev.dmaRead(0x1000_0000n, 4, { pasid: 1 });
    expect(get()).toEqual([]);
    dev.dmaWrite(0x1000_0004n, new Uint8Array([9]), { pasid: 1 });
    expect(m.guest.read(0x30_0004n, 1)).toEqual(new Uint8Array([9]));
    expect(get()).toEqual([1]); // GPA 0x300000 is in the second 2 MiB
  });
});
