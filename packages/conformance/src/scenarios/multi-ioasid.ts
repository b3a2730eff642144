import type { CaseDef } from '../types.js';
import { check, closeFd, expectDmaFault, expectErrno, expectOk, granule, guestPages, hex, newMachine, openFd, pattern, sameBytes, spot, PAGE } from '../kit.js';

/**
 * Proposal §5.2: a guest with a vIOMMU and two devices; the VMM shadows each guest mapping
 * (gIOVA → GPA) into the device's own IOASID (gIOVA → HVA), with guest RAM pre-registered once.
 */
export const multiIoasidCase: CaseDef = {
  id: '5.2-multi-ioasid',
  group: 'scenario',
  title: '5.2 multiple IOASIDs: per-device spaces, userspace shadowing, REGISTER_MEMORY charged once',
  run(env) {
    const m = newMachine(env);
    const { fd, devs } = openFd(m, 'dev0', 'dev1');
    const [d0, d1] = devs;
    check(fd.checkExtension('pre-registration') === 1, 'CHECK_EXTENSION(pre-registration) must be 1');
    const guestPages4k = Number(m.guest.size / PAGE);
    expectOk(() => fd.registerMemory({ vaddr: m.guest.vaddr, size: m.guest.size }), 'REGISTER_MEMORY of guest RAM');
    check(fd.accounting.lockedPages === guestPages4k, () => `REGISTER_MEMORY charges the range once: lockedPages ${fd.accounting.lockedPages}, expected ${guestPages4k}`);

    const a = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC A');
    const b = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC B');
    check(a !== b, 'two ALLOCs give two IOASIDs');
    expectOk(() => d0.attachIoasid(a), 'ATTACH dev0 → A');
    expectOk(() => d1.attachIoasid(b), 'ATTACH dev1 → B');
    const ia = fd.getInfo(a);
    const ib = fd.getInfo(b);
    const ga = granule(ia, 'GET_INFO(A)');
    const gb = granule(ib, 'GET_INFO(B)');
    const g = ga > gb ? ga : gb;

    // The guest driver allocates one buffer per device and maps both at the same gIOVA.
    const gpa0 = guestPages(m, 2n * g, g);
    const gpa1 = guestPages(m, 2n * g, g);
    m.guest.write(gpa0, pattern(20, 32));
    m.guest.write(gpa1, pattern(21, 32));
    const giova = spot(ia.permittedRanges.filter((r) => ib.permittedRanges.some((s) => s.start <= r.start && r.last <= s.last)), 2n * g, g, 'gIOVA in both spaces', 0x200000n);
    expectOk(() => fd.mapDma({ ioasid: a, iova: giova, vaddr: m.guest.vaddr + gpa0, size: 2n * g }), 'shadow MAP_DMA into A');
    expectOk(() => fd.mapDma({ ioasid: b, iova: giova, vaddr: m.guest.vaddr + gpa1, size: 2n * g }), 'shadow MAP_DMA into B');
    check(fd.accounting.lockedPages === guestPages4k, () => `maps of registered memory are not charged again: lockedPages ${fd.accounting.lockedPages}`);

    sameBytes(expectOk(() => d0.dmaRead(giova, 32), 'dev0 DMA read'), pattern(20, 32), 'dev0 reads its own buffer through A');
    sameBytes(expectOk(() => d1.dmaRead(giova, 32), 'dev1 DMA read'), pattern(21, 32), 'dev1 reads its own buffer through B at the same IOVA');
    const w = pattern(22, 12);
    expectOk(() => d0.dmaWrite(giova + g + 5n, w), 'dev0 DMA write');
    sameBytes(m.guest.read(gpa0 + g + 5n, w.length), w, 'dev0 write lands in its guest buffer');
    sameBytes(m.guest.read(gpa1 + g + 5n, w.length), new Uint8Array(w.length), 'dev0 write does not reach dev1 buffer');

    // The guest unmaps dev1's buffer; the VMM shadows that; the other device is unaffected.
    check(fd.unmapDma({ ioasid: b, iova: giova, size: 2n * g }) === 2n * g, 'shadow UNMAP_DMA of B returns its size');
    expectDmaFault(d1, () => d1.dmaRead(giova, 4), 'dev1 DMA after its mapping was removed');
    sameBytes(expectOk(() => d0.dmaRead(giova, 32), 'dev0 DMA read after B changed'), pattern(20, 32), 'A is unaffected by B');

    // Registration rules.
    const other = m.vmm.mmap(g > PAGE ? 2n << 20n : PAGE, g > PAGE ? { hugePages: '2M' } : {});
    expectErrno(() => fd.mapDma({ ioasid: a, iova: giova + 4n * g, vaddr: other, size: g }), 'EINVAL', 'MAP_DMA of memory outside the registered range');
    expectErrno(() => fd.registerMemory({ vaddr: m.guest.vaddr + PAGE, size: PAGE }), 'EEXIST', 'REGISTER_MEMORY overlapping a registration');
    expectErrno(() => fd.unregisterMemory({ vaddr: m.guest.vaddr, size: m.guest.size }), 'EBUSY', 'UNREGISTER_MEMORY of a range still mapped');
    expectErrno(() => fd.unregisterMemory({ vaddr: m.guest.vaddr, size: PAGE }), 'ENOENT', 'UNREGISTER_MEMORY of a range never registered');
    check(fd.unmapDma({ ioasid: a, all: true }) === 2n * g, 'UNMAP_DMA(all) returns the bytes of every map');
    expectOk(() => fd.unregisterMemory({ vaddr: m.guest.vaddr, size: m.guest.size }), 'UNREGISTER_MEMORY');
    check(fd.accounting.lockedPages === 0, () => `after UNREGISTER_MEMORY nothing is locked (lockedPages ${fd.accounting.lockedPages})`);
    expectDmaFault(d0, () => d0.dmaRead(giova, 4), `dev0 DMA at ${hex(giova)} after unmap-all`);
    closeFd(fd);
  },
};
