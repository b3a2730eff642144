import type { CaseDef } from '../types.js';
import {
  check,
  closeFd,
  expectDmaFault,
  expectOk,
  fmtValue,
  gpaSpace,
  guestData,
  guestTable,
  needsUserPgtable,
  newMachine,
  openFd,
  pattern,
  rejectsNesting,
  sameBytes,
} from '../kit.js';
import { checkNestedReach, checkNoKernelLeaf } from '../reach.js';

/**
 * Proposal §5.4: hardware nesting. The guest owns a page table (gIOVA → GPA) in its RAM; the
 * VMM binds it to a child of the GPA space; the IOMMU walks it through the parent. Every format
 * GET_INFO lists is exercised.
 */
export const hardwareNestingCase: CaseDef = {
  id: '5.4-hardware-nesting',
  group: 'scenario',
  title: '5.4 hardware nesting: CREATE_NESTING(user-pgtable), BIND_PGTABLE per listed format, INVALIDATE_CACHE, rebind',
  needs: (caps) => needsUserPgtable(caps.dev),
  rejects: (env) => rejectsNesting(env, 'user-pgtable'),
  run(env, caps) {
    check(caps.dev.nesting === 'hardware', () => `GET_INFO lists 'user-pgtable' but nesting is ${fmtValue(caps.dev.nesting)}, not 'hardware'`);
    check(caps.dev.formats.length > 0, `GET_INFO lists 'user-pgtable' but no bindable format`);
    const m = newMachine(env);
    const { fd, devs } = openFd(m, 'dev0');
    const dev = devs[0];
    const { parent, info: pinfo } = gpaSpace(m, fd, [dev]);
    check(pinfo.formats.length > 0, () => `GET_INFO(parent) lists no bindable format: ${fmtValue(pinfo)}`);
    check(fd.checkExtension('hardware-nesting') === 1, 'CHECK_EXTENSION(hardware-nesting) must be 1');

    let seed = 40;
    for (const format of pinfo.formats) {
      const what = `format ${fmtValue(format)}`;
      const child = expectOk(() => fd.createNesting({ parent, protocol: 'user-pgtable' }), `CREATE_NESTING(user-pgtable) for ${what}`);
      expectOk(() => dev.attachIoasid(child), `ATTACH dev0 → child (${what})`);
      const cinfo = fd.getInfo(child);
      check(cinfo.nesting === 'hardware', () => `GET_INFO(child) nesting must be 'hardware' (got ${fmtValue(cinfo.nesting)})`);

      const gt = guestTable(m, format);
      const a = guestData(m, gt.page, seed++);
      const b = guestData(m, gt.page, seed++);
      const gva1 = 3n * gt.page;
      const gva2 = 5n * gt.page;
      const gva3 = 7n * gt.page;
      check(gva3 + gt.page <= gt.span, () => `${what}: the table translates only ${gt.span} bytes`);
      gt.pt.map(gva1, a.gpa, gt.page, { read: true, write: true });
      gt.pt.map(gva2, b.gpa, gt.page, { read: true, write: false });
      expectOk(() => fd.bindPgtable({ ioasid: child, addr: gt.pt.root, format }), `BIND_PGTABLE (${what})`);

      sameBytes(expectOk(() => dev.dmaRead(gva1, 64), `DMA read gIOVA (${what})`), a.bytes, `${what}: gIOVA → GPA → host`);
      checkNestedReach(m, dev, gva1, {}, what);
      checkNoKernelLeaf(fd, parent, `${what}, the GPA space with a child bound`);
      const w = pattern(seed++, 24);
      expectOk(() => dev.dmaWrite(gva1 + 0x100n, w), `DMA write gIOVA (${what})`);
      sameBytes(m.guest.read(a.gpa + 0x100n, w.length), w, `${what}: the write lands in guest RAM`);
      sameBytes(expectOk(() => dev.dmaRead(gva2, 64), `DMA read of a read-only guest PTE (${what})`), b.bytes, `${what}: read-only page`);
      expectDmaFault(dev, () => dev.dmaWrite(gva2, w), `${what}: DMA write through a read-only guest PTE`);
      expectDmaFault(dev, () => dev.dmaRead(gva3, 4), `${what}: DMA to a gIOVA the guest did not map`);

      // The guest retargets gva1 and invalidates; the new translation is used.
      gt.pt.unmap(gva1, gt.page);
      gt.pt.map(gva1, b.gpa, gt.page, { read: true, write: true });
      expectOk(() => fd.invalidateCache({ ioasid: child, iova: gva1, size: gt.page }), `INVALIDATE_CACHE range (${what})`);
      sameBytes(expectOk(() => dev.dmaRead(gva1, 64), `DMA after the guest change (${what})`), b.bytes, `${what}: new guest PTE after INVALIDATE_CACHE`);

      // Rebinding replaces the table (the kernel flushes what the old one cached).
      const gt2 = guestTable(m, format);
      gt2.pt.map(gva1, a.gpa, gt.page, { read: true, write: true });
      expectOk(() => fd.bindPgtable({ ioasid: child, addr: gt2.pt.root, format }), `re-BIND_PGTABLE (${what})`);
      const now = expectOk(() => dev.dmaRead(gva1, 8), `DMA after rebind (${what})`);
      sameBytes(now, m.guest.read(a.gpa, 8), `${what}: the rebound table is used`);
      expectDmaFault(dev, () => dev.dmaRead(gva2, 4), `${what}: the old table no longer translates after rebind`);

      // Leaving the child: RID requests reach the GPA space again.
      expectOk(() => dev.detachIoasid(child), `DETACH child (${what})`);
      sameBytes(expectOk(() => dev.dmaRead(b.gpa, 64), `DMA at a GPA after detaching the child (${what})`), b.bytes, `${what}: RID routed to the parent`);
      expectOk(() => fd.free(child), `FREE child (${what})`);
    }
    closeFd(fd);
  },
};
