import { dirtyBits } from '@ioasid/core';
import type { CaseDef } from '../types.js';
import { MiB, check, closeFd, expectErrno, expectOk, fmtValue, newMachine, openFd, spot } from '../kit.js';

const PAGE = 4096n;
const hex = (v: bigint) => `0x${v.toString(16)}`;


/**
 * Dirty tracking as iommufd defines it (IOMMU_HWPT_SET_DIRTY_TRACKING, GET_DIRTY_BITMAP): the
 * unit logs DMA writes, never reads, while tracking is on; the bitmap has exactly the written
 * pages, a huge leaf every bit it covers; noClear keeps the bits, a clear re-arms the logging;
 * disabling stops it. Where GET_INFO says dirtyTracking: false, both commands answer EOPNOTSUPP.
 */
export const dirtyCase: CaseDef = {
  id: 'contract-dirty',
  group: 'contract',
  title: 'dirty tracking: writes logged and reads not, huge leaves dirty every bit they cover, noClear keeps, a clear re-arms, disable stops, enable starts clean',
  needs: (caps) => (caps.dev.dirtyTracking === true ? null : 'GET_INFO says dirtyTracking: false'),
  rejects(env) {
    const m = newMachine(env);
    const { fd, devs } = openFd(m, 'dev0');
    const ioasid = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC');
    expectOk(() => devs[0].attachIoasid(ioasid), 'ATTACH');
    check(fd.getInfo(ioasid).dirtyTracking === false, 'GET_INFO of the IOASID must say dirtyTracking: false too');
    check(fd.checkExtension('dirty-tracking') === 0, 'CHECK_EXTENSION(dirty-tracking) must be 0 where no device tracks');
    expectErrno(() => fd.setDirtyTracking({ ioasid, enable: true }), 'EOPNOTSUPP', 'SET_DIRTY_TRACKING without dirty tracking');
    expectErrno(() => fd.getDirtyBitmap({ ioasid, iova: 0n, size: PAGE, pageSize: PAGE }), 'EOPNOTSUPP', 'GET_DIRTY_BITMAP without dirty tracking');
    closeFd(fd);
  },
  run(env) {
    const m = newMachine(env);
    const { fd, devs } = openFd(m, 'dev0');
    const dev = devs[0];
    const ioasid = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC');
    expectOk(() => dev.attachIoasid(ioasid), 'ATTACH');
    const info = fd.getInfo(ioasid);
    check(info.dirtyTracking === true, 'the device tracks, so GET_INFO of its IOASID must say dirtyTracking: true');
    check(fd.checkExtension('dirty-tracking') === 1, 'CHECK_EXTENSION(dirty-tracking) must be 1');
    const pages = 64n;
    const base = spot(info.permittedRanges, 4n * MiB + pages * PAGE, 2n * MiB, 'dirty-tracking window', 16n * MiB);
    const small = base + 4n * MiB;
    const va = expectOk(() => m.vmm.mmap(pages * PAGE), 'mmap');
    expectOk(() => fd.mapDma({ ioasid, iova: small, vaddr: va, size: pages * PAGE }), 'MAP_DMA 4 KiB pages');
    const huge = info.pageSizes.includes(2n * MiB);
    if (huge) {
      const hva = expectOk(() => m.vmm.mmap(2n * MiB, { hugePages: '2M' }), 'mmap 2M');
      expectOk(() => fd.mapDma({ ioasid, iova: base, vaddr: hva, size: 2n * MiB }), 'MAP_DMA one 2 MiB page');
    }
    const bitmap = (iova: bigint, size: bigint, pageSize = PAGE, noClear = false) =>
      dirtyBits(expectOk(() => fd.getDirtyBitmap({ ioasid, iova, size, pageSize, noClear }), `GET_DIRTY_BITMAP ${hex(iova)}+${hex(size)}`));
    // Off: no bitmap to read, and a write is not logged.
    expectErrno(() => fd.getDirtyBitmap({ ioasid, iova: small, size: PAGE, pageSize: PAGE }), 'EINVAL', 'GET_DIRTY_BITMAP while tracking is off');
    expectOk(() => dev.dmaWrite(small, new Uint8Array([1])), 'DMA write');
    expectOk(() => fd.setDirtyTracking({ ioasid, enable: true }), 'SET_DIRTY_TRACKING on');
    check(bitmap(small, pages * PAGE).length === 0, 'the log starts clean when tracking is turned on (a write before it is not logged)');
    // Reads are not logged; writes are, to the page.
    expectOk(() => dev.dmaRead(small + 2n * PAGE, 8), 'DMA read');
    for (const p of [5n, 17n, 63n]) expectOk(() => dev.dmaWrite(small + p * PAGE + 7n, new Uint8Array([p === 5n ? 1 : 2])), `DMA write to page ${p}`);
    const got = bitmap(small, pages * PAGE, PAGE, true);
    check(JSON.stringify(got) === '[5,17,63]', () => `the bitmap must be exactly the written pages 5, 17, 63 (got ${fmtValue(got)})`);
    check(JSON.stringify(bitmap(small + 16n * PAGE, 48n * PAGE, PAGE, true)) === '[1,47]', 'bit 0 of a bitmap starting at page 16 is page 16');
    check(JSON.stringify(bitmap(small, pages * PAGE, 16n * PAGE, true)) === '[0,1,3]', 'at 64 KiB per bit, pages 5, 17 and 63 are bits 0, 1 and 3');
    check(JSON.stringify(bitmap(small, pages * PAGE)) === '[5,17,63]', 'noClear must have kept the bits');
    check(bitmap(small, pages * PAGE).length === 0, 'GET_DIRTY_BITMAP without noClear must clear what it read');
    expectOk(() => dev.dmaWrite(small + 5n * PAGE, new Uint8Array([3])), 'DMA write again');
    check(JSON.stringify(bitmap(small, pages * PAGE)) === '[5]', 'after a clear, a new write to the page must be logged again (the IOTLB must not hide it)');
    if (huge) {
      expectOk(() => dev.dmaWrite(base + 0x1234n, new Uint8Array([4])), 'DMA write into the 2 MiB page');
      const all = bitmap(base, 2n * MiB);
      check(all.length === 512 && all[0] === 0 && all[511] === 511, () => `a write into a 2 MiB leaf dirties all 512 of its 4 KiB bits (got ${all.length})`);
    }
    expectOk(() => fd.setDirtyTracking({ ioasid, enable: false }), 'SET_DIRTY_TRACKING off');
    expectOk(() => dev.dmaWrite(small + 9n * PAGE, new Uint8Array([5])), 'DMA write after disable');
    expectOk(() => fd.setDirtyTracking({ ioasid, enable: true }), 'SET_DIRTY_TRACKING on again');
    check(bitmap(small, pages * PAGE).length === 0, 'a write while tracking was off must not be logged');
    closeFd(fd);
    return huge ? '4 KiB pages and a 2 MiB leaf' : '4 KiB pages';
  },
};
