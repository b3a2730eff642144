import type { CaseDef } from '../types.js';
import { MiB, check, closeFd, expectOk, fmtValue, newMachine, openFd, spot } from '../kit.js';

const GiB = 1n << 30n;
const hex = (v: bigint) => `0x${v.toString(16)}`;

/** The VMM huge-page size that backs a page of `size` with contiguous memory, if any. */
function backing(size: bigint): { unit: bigint; hugePages?: '2M' | '1G' } | undefined {
  if (size <= 4096n) return { unit: 4096n };
  if (size <= 2n * MiB) return { unit: 2n * MiB, hugePages: '2M' };
  if (size <= GiB) return { unit: GiB, hugePages: '1G' };
  return undefined;
}

/**
 * The kit does not believe GET_INFO: every page size an IOASID claims must be one its tables can
 * hold. A naturally aligned range of that size, backed by contiguous memory, is mapped; LOOKUP
 * must show one leaf of exactly that size, and DMA must reach the first and last byte. Likewise,
 * CHECK_EXTENSION's answers that depend on the IOMMU must agree with GET_INFO.
 */
export const claimsCase: CaseDef = {
  id: 'contract-claims',
  group: 'contract',
  title: 'GET_INFO is held to what the tables do: each page size claimed maps as one leaf of that size; CHECK_EXTENSION agrees with GET_INFO',
  run(env) {
    const m = newMachine(env);
    const { fd, devs } = openFd(m, 'dev0');
    const dev = devs[0];
    const ioasid = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC');
    expectOk(() => dev.attachIoasid(ioasid), 'ATTACH');
    const info = expectOk(() => fd.getInfo(ioasid), 'GET_INFO');
    const tried: string[] = [];
    for (const size of info.pageSizes) {
      const b = backing(size);
      if (!b) {
        tried.push(`${hex(size)} (not checked: no VMM huge page that large)`);
        continue;
      }
      const vaddr = expectOk(() => m.vmm.mmap(b.unit, b.hugePages ? { hugePages: b.hugePages } : {}), `mmap ${hex(b.unit)}`);
      const iova = spot(info.permittedRanges, size, size, `a ${hex(size)} page`, size);
      expectOk(() => fd.mapDma({ ioasid, iova, vaddr, size, read: true, write: true }), `MAP_DMA of one ${hex(size)} page at ${hex(iova)}`);
      const v = expectOk(() => fd.lookup(ioasid, iova + size - 1n), `LOOKUP ${hex(iova + size - 1n)}`);
      check(v.pageSize === size, () => `GET_INFO claims page size ${hex(size)}, but a naturally aligned ${hex(size)} map at ${hex(iova)} is held by a leaf of ${v.pageSize === undefined ? 'no size' : hex(v.pageSize)} (LOOKUP: ${fmtValue(v.steps.map((s) => `level ${s.level} ${s.decoded.kind}`))})`);
      expectOk(() => dev.dmaWrite(iova + size - 1n, new Uint8Array([0x5a])), `DMA to the last byte of the ${hex(size)} page`);
      check(m.vmm.read(vaddr + size - 1n, 1)[0] === 0x5a, () => `the DMA to the last byte of the ${hex(size)} page did not reach its memory`);
      expectOk(() => fd.unmapDma({ ioasid, iova, size }), 'UNMAP_DMA');
      tried.push(hex(size));
    }
    const dinfo = dev.getInfo();
    const ext = (name: 'hardware-nesting' | 'page-faults') => expectOk(() => fd.checkExtension(name), `CHECK_EXTENSION(${name})`);
    check(ext('hardware-nesting') === (dinfo.nesting === 'hardware' ? 1 : 0), () => `CHECK_EXTENSION(hardware-nesting) = ${ext('hardware-nesting')} while GET_INFO says nesting: ${dinfo.nesting}`);
    const anyPri = m.deviceList.some((d) => d.getInfo().pageRequest);
    check(ext('page-faults') === (anyPri ? 1 : 0), () => `CHECK_EXTENSION(page-faults) = ${ext('page-faults')} while GET_INFO's pageRequest is ${anyPri} on every device`);
    closeFd(fd);
    return `page sizes: ${tried.join(', ')}`;
  },
};
