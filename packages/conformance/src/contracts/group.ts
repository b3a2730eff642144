import type { CaseDef } from '../types.js';
import { closeFd, expectErrno, expectOk, granule, newMachine, openFd, pattern, sameBytes, spot, vmmBuffer } from '../kit.js';

/**
 * The group rule: devices of one IOMMU group are isolated only together, so an IOASID refuses
 * commands while the group is partly attached (EPERM), after the ENOENT/EOPNOTSUPP checks.
 */
export const groupCase: CaseDef = {
  id: 'contract-group',
  group: 'contract',
  title: 'IOMMU group rule: a partly attached group makes the IOASID refuse commands with EPERM',
  run(env) {
    const m = newMachine(env);
    const { fd, devs } = openFd(m, 'grpA', 'grpB');
    const [ga, gb] = devs;
    const a = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC');
    expectOk(() => ga.attachIoasid(a), 'ATTACH grpA');
    const info = fd.getInfo(a);
    const g = granule(info, 'GET_INFO');
    const va = vmmBuffer(m, 2n * g, g);
    const iova = spot(info.permittedRanges, 2n * g, g, 'MAP_DMA', 0x100000n);

    expectErrno(() => fd.mapDma({ ioasid: a + 99, iova, vaddr: va, size: g }), 'ENOENT', 'MAP_DMA on an unknown IOASID (before the group rule)');
    expectErrno(() => fd.bindPgtable({ ioasid: a, addr: 0n, format: { kind: 'x' } }), 'EOPNOTSUPP', 'BIND_PGTABLE on a map IOASID (before the group rule)');
    expectErrno(() => fd.mapDma({ ioasid: a, iova, vaddr: va, size: g }), 'EPERM', 'MAP_DMA with the group partly attached');
    expectErrno(() => fd.unmapDma({ ioasid: a, all: true }), 'EPERM', 'UNMAP_DMA with the group partly attached');
    expectErrno(() => fd.invalidateCache({ ioasid: a, all: true }), 'EPERM', 'INVALIDATE_CACHE with the group partly attached');
    expectErrno(() => fd.createNesting({ parent: a, protocol: 'map' }), 'EPERM', 'CREATE_NESTING with the group partly attached');

    expectOk(() => gb.attachIoasid(a), 'ATTACH grpB (the whole group)');
    expectOk(() => fd.mapDma({ ioasid: a, iova, vaddr: va, size: 2n * g }), 'MAP_DMA with the whole group attached');
    m.vmm.write(va + g, pattern(90, 8));
    sameBytes(expectOk(() => ga.dmaRead(iova + g, 8), 'grpA DMA'), pattern(90, 8), 'grpA reaches the map');
    sameBytes(expectOk(() => gb.dmaRead(iova + g, 8), 'grpB DMA'), pattern(90, 8), 'grpB reaches the map');

    expectOk(() => gb.detachIoasid(a), 'DETACH grpB');
    expectErrno(() => fd.unmapDma({ ioasid: a, all: true }), 'EPERM', 'UNMAP_DMA after the group became partial again');
    // (A group is isolated only as a whole: the detached member may still reach what its group does.)
    sameBytes(expectOk(() => ga.dmaRead(iova + g, 8), 'grpA DMA after grpB left'), pattern(90, 8), 'grpA still reaches the map');
    expectOk(() => ga.detachIoasid(a), 'DETACH grpA');
    expectOk(() => fd.unmapDma({ ioasid: a, all: true }), 'UNMAP_DMA with no device attached');
    closeFd(fd);
  },
};
