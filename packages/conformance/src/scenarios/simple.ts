import type { CaseDef } from '../types.js';
import {
  MiB,
  PAGE,
  check,
  closeFd,
  expectDmaFault,
  expectErrno,
  expectOk,
  fmtValue,
  granule,
  hex,
  label,
  newMachine,
  openFd,
  pattern,
  sameBytes,
  spot,
  vmmBuffer,
} from '../kit.js';

/** Proposal §5.1: one device, one kernel-managed address space, real bytes by DMA. */
export const simpleCase: CaseDef = {
  id: '5.1-simple',
  group: 'scenario',
  title: '5.1 simple: ALLOC, ATTACH, MAP_DMA, DMA bytes both ways, read-only map, UNMAP_DMA, FREE',
  run(env) {
    const m = newMachine(env);
    const { fd, devs } = openFd(m, 'dev0');
    const dev = devs[0];
    const devInfo = dev.getInfo();
    check(devInfo.protocols.includes('map'), () => `GET_INFO(dev0) must list the 'map' protocol: ${fmtValue(devInfo.protocols)}`);

    const ioasid = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC(map)');
    check(typeof ioasid === 'number', 'ALLOC returns the IOASID as a number');
    const before = fd.getInfo(ioasid);
    check(before.protocols.length === 1 && before.protocols[0] === 'map' && before.pageSizes.length === 0 && before.permittedRanges.length === 0,
      () => `GET_INFO before any attach reports only the format: ${fmtValue(before)}`);
    expectOk(() => dev.attachIoasid(ioasid), 'ATTACH dev0');
    const info = fd.getInfo(ioasid);
    const g = granule(info, 'GET_INFO(ioasid)');

    // Ordinary memory: four IO pages, a DMA write across a page boundary, a DMA read.
    const size = 4n * g;
    const va = vmmBuffer(m, size, g);
    const iova = spot(info.permittedRanges, size, g, 'MAP_DMA', MiB);
    expectOk(() => fd.mapDma({ ioasid, iova, vaddr: va, size, read: true, write: true }), `MAP_DMA ${hex(iova)}+${hex(size)}`);
    const w = pattern(1, 10);
    expectOk(() => dev.dmaWrite(iova + g - 5n, w), 'DMA write across an IO page boundary');
    sameBytes(m.vmm.read(va + g - 5n, w.length), w, 'bytes the device wrote, read through the VMM vaddr');
    const r = pattern(2, 33);
    m.vmm.write(va + 2n * g + 7n, r);
    sameBytes(expectOk(() => dev.dmaRead(iova + 2n * g + 7n, r.length), 'DMA read'), r, 'bytes the device read');

    // LOOKUP decodes the table from memory: the output is the host frame behind the vaddr.
    const region = m.vmm.region(va, size);
    const probe = g + 0x123n;
    const hostPa = BigInt(region.frameOf(Number((va - region.vaddr + probe) / PAGE))) * PAGE + (probe % PAGE);
    const lk = expectOk(() => fd.lookup(ioasid, iova + probe), 'LOOKUP');
    check(lk.output === hostPa, () => `LOOKUP(${hex(iova + probe)}) output ${lk.output === null ? 'null' : hex(lk.output)}, expected host address ${hex(hostPa)}`);

    // Huge-page backed memory: a DMA across a 2 MiB boundary.
    let hiova = iova + size;
    if (g <= 2n * MiB) {
      const hsize = 4n * MiB;
      const hva = m.vmm.mmap(hsize, { hugePages: '2M' });
      hiova = spot(info.permittedRanges, hsize, 2n * MiB, 'MAP_DMA (huge)', iova + size);
      expectOk(() => fd.mapDma({ ioasid, iova: hiova, vaddr: hva, size: hsize }), `MAP_DMA of 2 MiB pages at ${hex(hiova)}`);
      const hw = pattern(3, 16);
      expectOk(() => dev.dmaWrite(hiova + 2n * MiB - 8n, hw), 'DMA write across a 2 MiB boundary');
      sameBytes(m.vmm.read(hva + 2n * MiB - 8n, hw.length), hw, 'bytes written through a huge mapping');
      hiova += hsize;
    }

    // A read-only map: reads work, a write is blocked and reported on the IOASID with the label.
    const rova = vmmBuffer(m, g, g);
    const roIova = spot(info.permittedRanges, g, g, 'MAP_DMA (read-only)', hiova);
    expectOk(() => fd.mapDma({ ioasid, iova: roIova, vaddr: rova, size: g, read: true, write: false }), 'MAP_DMA read-only');
    m.vmm.write(rova, pattern(4, 8));
    sameBytes(expectOk(() => dev.dmaRead(roIova, 8), 'DMA read of a read-only map'), pattern(4, 8), 'read-only map bytes');
    fd.readFaults(ioasid);
    const f = expectDmaFault(dev, () => dev.dmaWrite(roIova + 0x40n, pattern(5, 4)), 'DMA write to a read-only map');
    check(f.record.rid === dev.rid && f.record.write === true && roIova + 0x40n - f.record.iova >= 0n && roIova + 0x40n - f.record.iova < g,
      () => `fault record must name RID ${hex(dev.rid)}, the write and the IOVA: ${fmtValue(f.record)}`);
    const reported = fd.readFaults(ioasid);
    check(reported.some((x) => x.kind === 'unrecoverable' && x.device === 'dev0' && x.label === label('dev0') && x.write),
      () => `READ_FAULTS must report the blocked write with the device label: ${fmtValue(reported)}`);

    // UNMAP_DMA: bytes returned, no stale translation, nothing the second time.
    const unmapped = expectOk(() => fd.unmapDma({ ioasid, iova, size }), 'UNMAP_DMA');
    check(unmapped === size, () => `UNMAP_DMA returns the bytes unmapped: ${String(unmapped)} != ${size}`);
    expectDmaFault(dev, () => dev.dmaRead(iova + 2n * g + 7n, 1), 'DMA to a page just unmapped (a stale IOTLB entry would let it through)');
    const lk2 = fd.lookup(ioasid, iova + probe);
    check(lk2.output === null, () => `LOOKUP after UNMAP_DMA must show nothing (got ${fmtValue(lk2.output)})`);
    check(fd.unmapDma({ ioasid, iova, size }) === 0n, 'a second UNMAP_DMA of the same range returns 0');

    expectOk(() => dev.detachIoasid(ioasid), 'DETACH');
    expectOk(() => fd.free(ioasid), 'FREE');
    expectErrno(() => fd.getInfo(ioasid), 'ENOENT', 'GET_INFO of a freed IOASID');
    closeFd(fd);
  },
};
