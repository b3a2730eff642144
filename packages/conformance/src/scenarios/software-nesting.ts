import type { CaseDef } from '../types.js';
import { check, closeFd, expectDmaFault, expectOk, fmtValue, granule, guestPages, mapGuestRange, newMachine, openFd, pattern, sameBytes, spot, vmmBuffer } from '../kit.js';

/**
 * Proposal §5.3: nesting done by the kernel in software. The parent maps GPA → HVA, the child
 * gIOVA → GPA; the device DMAs with gIOVA through a shadow in the hardware's own format, and
 * later changes of the parent or the child are reflected.
 */
export const softwareNestingCase: CaseDef = {
  id: '5.3-software-nesting',
  group: 'scenario',
  title: '5.3 software nesting: CREATE_NESTING(map), child maps over parent maps, both levels change',
  run(env) {
    const m = newMachine(env);
    const { fd, devs } = openFd(m, 'dev0');
    const dev = devs[0];
    check(fd.checkExtension('software-nesting') === 1, 'CHECK_EXTENSION(software-nesting) must be 1');
    const parent = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC parent');
    expectOk(() => dev.attachIoasid(parent), 'ATTACH dev0 → parent');
    const pinfo = fd.getInfo(parent);
    const g = granule(pinfo, 'GET_INFO(parent)');
    // GPA g of guest RAM is parent IOVA base + g.
    const base = spot(pinfo.permittedRanges, m.guest.size, g, 'GPA space in the parent');

    const gpa = guestPages(m, 2n * g, g);
    m.guest.write(gpa, pattern(30, 16));
    m.guest.write(gpa + g, pattern(31, 16));
    // The parent maps only the guest buffer (what the child points at).
    mapGuestRange(m, fd, parent, pinfo, base, gpa, gpa + 2n * g);

    const child = expectOk(() => fd.createNesting({ parent, protocol: 'map' }), 'CREATE_NESTING(map)');
    expectOk(() => dev.attachIoasid(child), 'ATTACH dev0 → child');
    const cinfo = fd.getInfo(child);
    check(cinfo.nesting === 'software', () => `GET_INFO of a map child must say nesting 'software' (got ${fmtValue(cinfo.nesting)})`);
    const cg = granule(cinfo, 'GET_INFO(child)');
    check(cg <= g || cg % g === 0n, 'child granule is compatible with the parent');
    const giova = spot(cinfo.permittedRanges, 2n * g, g > cg ? g : cg, 'gIOVA in the child', 0x400000n);
    expectOk(() => fd.mapDma({ ioasid: child, iova: giova, vaddr: base + gpa, size: 2n * g }), 'child MAP_DMA gIOVA → GPA');

    sameBytes(expectOk(() => dev.dmaRead(giova, 16), 'DMA read through the shadow'), pattern(30, 16), 'gIOVA reaches the guest buffer');
    sameBytes(expectOk(() => dev.dmaRead(giova + g, 16), 'DMA read, second page'), pattern(31, 16), 'second page of the buffer');
    const w = pattern(32, 8);
    expectOk(() => dev.dmaWrite(giova + 0x80n, w), 'DMA write through the shadow');
    sameBytes(m.guest.read(gpa + 0x80n, 8), w, 'the write lands in guest RAM');

    // Parent change: the VMM moves the GPA range to other memory; the shadow follows.
    check(fd.unmapDma({ ioasid: parent, iova: base + gpa, size: 2n * g }) === 2n * g, 'parent UNMAP_DMA returns its size');
    expectDmaFault(dev, () => dev.dmaRead(giova, 4), 'child DMA after the parent map under it went away');
    const va2 = vmmBuffer(m, 2n * g, g);
    m.vmm.write(va2, pattern(33, 16));
    expectOk(() => fd.mapDma({ ioasid: parent, iova: base + gpa, vaddr: va2, size: 2n * g }), 'parent MAP_DMA to new memory');
    sameBytes(expectOk(() => dev.dmaRead(giova, 16), 'DMA read after the parent changed'), pattern(33, 16), 'the shadow reflects the new parent map');

    // Child change: unmap, then a read-only map (prot is the intersection of both levels).
    check(fd.unmapDma({ ioasid: child, iova: giova, size: 2n * g }) === 2n * g, 'child UNMAP_DMA returns its size');
    expectDmaFault(dev, () => dev.dmaRead(giova, 4), 'DMA after the child map went away');
    expectOk(() => fd.mapDma({ ioasid: child, iova: giova, vaddr: base + gpa, size: g, read: true, write: false }), 'child MAP_DMA read-only');
    sameBytes(expectOk(() => dev.dmaRead(giova, 16), 'DMA read of the read-only child map'), pattern(33, 16), 'read-only child map');
    expectDmaFault(dev, () => dev.dmaWrite(giova, w), 'DMA write through a read-only child map');

    // A child map over a GPA the parent does not map yet: blocked until the parent maps it.
    const gpa2 = guestPages(m, g, g);
    m.guest.write(gpa2, pattern(34, 16));
    expectOk(() => fd.mapDma({ ioasid: child, iova: giova + 4n * g, vaddr: base + gpa2, size: g }), 'child MAP_DMA over unmapped GPA');
    expectDmaFault(dev, () => dev.dmaRead(giova + 4n * g, 4), 'DMA to a child map whose GPA the parent does not map');
    mapGuestRange(m, fd, parent, pinfo, base, gpa2, gpa2 + g);
    sameBytes(expectOk(() => dev.dmaRead(giova + 4n * g, 16), 'DMA after the parent mapped the GPA'), pattern(34, 16), 'the shadow grows with the parent');

    // Detaching the child routes the RID back to the parent.
    expectOk(() => dev.detachIoasid(child), 'DETACH child');
    sameBytes(expectOk(() => dev.dmaRead(base + gpa2, 16), 'DMA at a parent IOVA after detaching the child'), pattern(34, 16), 'RID routed to the parent again');
    expectOk(() => fd.free(child), 'FREE child');
    closeFd(fd);
  },
};
