/**
 * SET_DIRTY_TRACKING / GET_DIRTY_BITMAP end to end on a VT-d machine (issue 20): the driver sets
 * SSADE in the PASID entries (Linux intel_iommu_set_dirty_tracking → intel_pasid_setup_dirty_tracking),
 * the unit sets D in the second-stage leaves in memory on DMA writes, and GET_DIRTY_BITMAP reads
 * (and clears) them through the page-table engine, then flushes the IOTLB for what it cleared.
 */
import { describe, expect, it } from 'vitest';
import { IOTLB_DOMAIN, PC_PASID_SEL, SL_A, SL_D, PE_SLADE, type InvDesc, type VtdDriver, type VtdSecondLevelDomain } from '../src/index.js';
import { MiB, qwordAt, vtdMachine } from './helpers.js';

const PAGE = 4096n;
const D = BigInt(SL_D);

function tracked() {
  const { m, driver } = vtdMachine({ devices: [{ name: 'dev0', rid: 0x08 }, { name: 'dev1', rid: 0x10, ats: true }] });
  const fd = m.openIoasidFd();
  const dev = m.device('dev0');
  dev.bindIoasidFd(fd, { label: 'nic' });
  const ioasid = fd.alloc({ protocol: 'map' });
  dev.attachIoasid(ioasid);
  const base = 0x4000_0000n;
  const va = m.vmm.mmap(4n * MiB, { hugePages: '2M' });
  const va4k = m.vmm.mmap(64n * PAGE);
  fd.mapDma({ ioasid, iova: base, vaddr: va, size: 2n * MiB }); // one 2 MiB leaf
  fd.mapDma({ ioasid, iova: base + 2n * MiB, vaddr: va4k, size: 64n * PAGE }); // 64 leaves of 4 KiB
  const leaf = (iova: bigint) => fd.lookup(ioasid, iova).steps.at(-1)!;
  const leafWord = (iova: bigint) => qwordAt(m.hostMemory, leaf(iova).entryAddr);
  const bits = (iova: bigint, size: bigint, pageSize = PAGE, noClear = false) => setBits(fd.getDirtyBitmap({ ioasid, iova, size, pageSize, noClear }));
  return { m, driver, fd, dev, ioasid, base, leaf, leafWord, bits };
}

/** Bit numbers set in an iommufd-style bitmap (bit i = byte i >> 3, bit i & 7). */
function setBits(b: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < b.length * 8; i++) if (b[i >> 3] & (1 << (i & 7))) out.push(i);
  return out;
}

/** The PASID entry (qword 0) of a device's RID_PASID route. */
function pasidEntryWord0(driver: VtdDriver, rid: number, pasid = 0): bigint {
  return qwordAt(driver.host, driver.tables.pasidEntryAddr(rid, pasid, false)!);
}

describe('VT-d dirty tracking through SET_DIRTY_TRACKING / GET_DIRTY_BITMAP', () => {
  it('CHECK_EXTENSION and GET_INFO say it: ECAP.SSADS with second-stage tables for map IOASIDs', () => {
    const { m, fd, ioasid } = tracked();
    expect(fd.checkExtension('dirty-tracking')).toBe(1);
    expect(m.device('dev0').getInfo().dirtyTracking).toBe(true);
    expect(fd.getInfo(ioasid).dirtyTracking).toBe(true);
  });

  it('SET_DIRTY_TRACKING sets and clears SSADE (bit 9) in the PASID entry of every route, nothing else', () => {
    const { m, driver, fd, ioasid } = tracked();
    const dev1 = m.device('dev1');
    dev1.bindIoasidFd(fd, { label: 'ats' });
    dev1.attachIoasid(ioasid);
    const ssade = 1n << BigInt(PE_SLADE.lsb);
    const before = [0x08, 0x10].map((rid) => pasidEntryWord0(driver, rid));
    fd.setDirtyTracking({ ioasid, enable: true });
    [0x08, 0x10].forEach((rid, k) => expect(pasidEntryWord0(driver, rid)).toBe(before[k] | ssade));
    fd.setDirtyTracking({ ioasid, enable: false });
    [0x08, 0x10].forEach((rid, k) => expect(pasidEntryWord0(driver, rid)).toBe(before[k]));
  });

  it('the invalidations: SET_DIRTY_TRACKING as Linux intel_pasid_setup_dirty_tracking, GET_DIRTY_BITMAP a range flush after clearing', () => {
    const { m, driver, fd, ioasid, base, dev } = tracked();
    const dev1 = m.device('dev1');
    dev1.bindIoasidFd(fd, { label: 'ats' });
    dev1.attachIoasid(ioasid);
    const did = (fd.ioasidObject(ioasid).domain as VtdSecondLevelDomain).did;
    let before = driver.qi.history.length;
    fd.setDirtyTracking({ ioasid, enable: true });
    let issued = driver.qi.history.slice(before).filter((d) => d.type !== 'wait');
    // Per route: PASID-selective PASID cache, domain-selective IOTLB; device-TLB only for the ATS device.
    expect(issued).toEqual<InvDesc[]>([
      { type: 'pc', gran: PC_PASID_SEL, did, pasid: 0 },
      { type: 'iotlb', gran: IOTLB_DOMAIN, did, addr: 0n, am: 0, ih: false, dr: true, dw: true },
      { type: 'pc', gran: PC_PASID_SEL, did, pasid: 0 },
      { type: 'iotlb', gran: IOTLB_DOMAIN, did, addr: 0n, am: 0, ih: false, dr: true, dw: true },
      expect.objectContaining({ type: 'devtlb', sid: 0x10 }),
    ]);
    before = driver.qi.history.length;
    fd.setDirtyTracking({ ioasid, enable: true }); // no change: nothing written, nothing flushed
    expect(driver.qi.history.length).toBe(before);
    // Nothing cleared: no flush.
    fd.getDirtyBitmap({ ioasid, iova: base, size: 4n * MiB, pageSize: PAGE });
    expect(driver.qi.history.length).toBe(before);
    dev.dmaWrite(base + 2n * MiB + 4n * PAGE, new Uint8Array([1]));
    fd.getDirtyBitmap({ ioasid, iova: base, size: 4n * MiB, pageSize: PAGE, noClear: true });
    expect(driver.qi.history.length).toBe(before);
    fd.getDirtyBitmap({ ioasid, iova: base, size: 4n * MiB, pageSize: PAGE });
    issued = driver.qi.history.slice(before).filter((d) => d.type !== 'wait');
    expect(issued).toContainEqual<InvDesc>({ type: 'iotlb', gran: 3, did, addr: base + 2n * MiB + 4n * PAGE, am: 0, ih: false, dr: true, dw: true });
    expect(issued).toContainEqual(expect.objectContaining({ type: 'devtlb', sid: 0x10 }));
  });

  it('a route attached while tracking gets SSADE at once (Linux intel_pasid_setup_second_level)', () => {
    const { m, driver, fd, ioasid, base, bits } = tracked();
    fd.setDirtyTracking({ ioasid, enable: true });
    const dev1 = m.device('dev1');
    dev1.bindIoasidFd(fd, { label: 'late' });
    dev1.attachIoasid(ioasid);
    expect((pasidEntryWord0(driver, 0x10) >> 9n) & 1n).toBe(1n);
    dev1.dmaWrite(base + 2n * MiB + 7n * PAGE, new Uint8Array([1]));
    expect(bits(base + 2n * MiB, 64n * PAGE)).toEqual([7]);
  });

  it('4 KiB leaves: a write sets D in the leaf in memory, a read only A; noClear keeps it; clear, then a new write sets it again', () => {
    const { fd, dev, ioasid, base, leafWord, bits } = tracked();
    const at = (p: bigint) => base + 2n * MiB + p * PAGE;
    fd.setDirtyTracking({ ioasid, enable: true });
    dev.dmaRead(at(1n), 4);
    dev.dmaWrite(at(3n) + 5n, new Uint8Array([1, 2]));
    expect(leafWord(at(1n)) & BigInt(SL_A | SL_D)).toBe(BigInt(SL_A));
    expect(leafWord(at(3n)) & BigInt(SL_A | SL_D)).toBe(BigInt(SL_A | SL_D));
    for (let k = 0; k < 2; k++) expect(bits(at(0n), 64n * PAGE, PAGE, true)).toEqual([3]);
    expect(bits(at(0n), 64n * PAGE)).toEqual([3]);
    expect(leafWord(at(3n)) & D).toBe(0n);
    expect(bits(at(0n), 64n * PAGE)).toEqual([]);
    dev.dmaWrite(at(3n), new Uint8Array([9])); // the IOTLB holds this page: the clear flushed it
    expect(bits(at(0n), 64n * PAGE)).toEqual([3]);
  });

  it('a 2 MiB leaf is dirty as a whole: every 4 KiB bit it covers, or one bit at 2 MiB granularity', () => {
    const { fd, dev, ioasid, base, leaf, leafWord, bits } = tracked();
    fd.setDirtyTracking({ ioasid, enable: true });
    dev.dmaWrite(base + 0x1234n, new Uint8Array([7]));
    expect(leaf(base).level).toBe(2); // SS-PDE, VT-d level 2
    expect(leafWord(base) & D).toBe(D);
    expect(bits(base, 4n * MiB)).toEqual([...Array(512).keys()]);
    expect(bits(base, 4n * MiB)).toEqual([]);
    dev.dmaWrite(base + 0x1ff000n, new Uint8Array([8]));
    expect(bits(base, 2n * MiB, 2n * MiB)).toEqual([0]);
  });

  it('IOTLB entries made before tracking, or by reads, or left after a clear never hide a write', () => {
    const { fd, dev, ioasid, base, bits } = tracked();
    const at = (p: bigint) => base + 2n * MiB + p * PAGE;
    // Before tracking: a write caches a translation (no SSADE): enabling flushes it (domain-selective IOTLB).
    dev.dmaWrite(at(10n), new Uint8Array([1]));
    dev.dmaWrite(base, new Uint8Array([1]));
    fd.setDirtyTracking({ ioasid, enable: true });
    dev.dmaWrite(at(10n), new Uint8Array([2]));
    expect(bits(at(0n), 64n * PAGE)).toEqual([10]);
    // A read caches a clean translation: the write after it walks and sets D.
    dev.dmaRead(at(11n), 1);
    dev.dmaWrite(at(11n), new Uint8Array([3]));
    expect(bits(at(0n), 64n * PAGE)).toEqual([11]);
    // After a clear the dirty translation is gone from the IOTLB: the next write to the 2 MiB page is logged.
    dev.dmaWrite(base + 0x5000n, new Uint8Array([4]));
    expect(bits(base, 2n * MiB, 2n * MiB)).toEqual([0]);
    dev.dmaWrite(base + 0x5000n, new Uint8Array([5]));
    expect(bits(base, 2n * MiB, 2n * MiB)).toEqual([0]);
  });

  it('disabling stops the logging (the cached SSADE is invalidated with the PASID cache)', () => {
    const { fd, dev, ioasid, base, bits, leafWord } = tracked();
    const at = (p: bigint) => base + 2n * MiB + p * PAGE;
    fd.setDirtyTracking({ ioasid, enable: true });
    dev.dmaRead(at(20n), 1);
    fd.setDirtyTracking({ ioasid, enable: false });
    dev.dmaWrite(at(20n), new Uint8Array([1]));
    dev.dmaWrite(at(21n), new Uint8Array([1]));
    expect(leafWord(at(20n)) & D).toBe(0n);
    // No bitmap while off (intel_iommu_read_and_clear_dirty: -EINVAL when not tracking).
    expect(() => bits(at(0n), 64n * PAGE)).toThrow(/dirty tracking is off/);
    fd.setDirtyTracking({ ioasid, enable: true });
    expect(bits(at(0n), 64n * PAGE)).toEqual([]);
    dev.dmaWrite(at(21n), new Uint8Array([1]));
    expect(bits(at(0n), 64n * PAGE)).toEqual([21]);
  });

  it('a traced walk (LOOKUP with a device) after tracking writes no A or D', () => {
    const { fd, ioasid, base, leafWord } = tracked();
    fd.setDirtyTracking({ ioasid, enable: true });
    const at = base + 2n * MiB + 30n * PAGE;
    for (const caches of [false, true]) {
      const v = fd.lookup(ioasid, at, { device: 'dev0', write: true, caches });
      expect(v.trace).toBeDefined();
      const v2 = fd.lookup(ioasid, base, { device: 'dev0', write: true, caches });
      expect(v2.trace).toBeDefined();
    }
    expect(leafWord(at) & BigInt(SL_A | SL_D)).toBe(0n);
    expect(leafWord(base) & BigInt(SL_A | SL_D)).toBe(0n);
  });
});
