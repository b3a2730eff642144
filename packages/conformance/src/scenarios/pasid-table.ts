import type { CaseDef } from '../types.js';
import { check, closeFd, expectDmaFault, expectErrno, expectOk, firstFormat, fmtValue, gpaSpace, guestData, guestTable, newPasidTableMachine, openFd, rejectsNesting, sameBytes } from '../kit.js';
import { checkNestedReach, checkNoKernelLeaf } from '../reach.js';

/**
 * Proposal §5.7: the guest owns the whole PASID table (the SMMU CD table) in its RAM; the VMM
 * binds it with BIND_PASID_TABLE; each guest PASID uses the page table its entry names.
 */
export const pasidTableCase: CaseDef = {
  id: '5.7-pasid-table',
  group: 'scenario',
  title: '5.7 BIND_PASID_TABLE: guest PASID table per listed format, per-PASID tables, entry update + INVALIDATE_CACHE',
  needs: (caps) => (caps.dev.protocols.includes('user-pasid-table') ? null : "GET_INFO lists no 'user-pasid-table' protocol"),
  rejects: (env) => rejectsNesting(env, 'user-pasid-table'),
  run(env, caps) {
    check(caps.dev.pasidTableFormats.length > 0, "GET_INFO lists 'user-pasid-table' but no PASID-table format");
    check(caps.dev.pasidBits > 0, "GET_INFO lists 'user-pasid-table' but pasidBits is 0");
    const m = newPasidTableMachine(env);
    const helpers = m.driver.guest;
    check(helpers?.buildPasidTable, "the vendor lists 'user-pasid-table' but machine.driver.guest.buildPasidTable is missing");
    const { fd, devs } = openFd(m, 'dev0', 'dev1');
    const [dev, dev1] = devs;
    const { parent, info } = gpaSpace(m, fd, [dev, dev1]);
    const pgFormat = firstFormat(info);
    let seed = 80;
    for (const ptf of info.pasidTableFormats) {
      const what = `PASID-table format ${fmtValue(ptf)}`;
      const child = expectOk(() => fd.createNesting({ parent, protocol: 'user-pasid-table' }), `CREATE_NESTING(user-pasid-table) (${what})`);
      expectOk(() => dev.attachIoasid(child), `ATTACH dev0 → PASID-table child (${what})`);
      const gt1 = guestTable(m, pgFormat);
      const gt2 = guestTable(m, pgFormat);
      const a = guestData(m, gt1.page, seed++);
      const b = guestData(m, gt1.page, seed++);
      const gva = 3n * gt1.page;
      gt1.pt.map(gva, a.gpa, gt1.page, { read: true, write: true });
      gt2.pt.map(gva, b.gpa, gt1.page, { read: true, write: true });
      const table = expectOk(
        () => helpers.buildPasidTable!(m.guest, ptf, [
          { pasid: 1, root: gt1.pt.root, pgtable: pgFormat },
          { pasid: 2, root: gt2.pt.root, pgtable: pgFormat },
        ]),
        `guest.buildPasidTable (${what})`,
      );
      expectOk(() => fd.bindPasidTable({ ioasid: child, addr: table, format: ptf }), `BIND_PASID_TABLE (${what})`);

      sameBytes(expectOk(() => dev.dmaRead(gva, 64, { pasid: 1 }), `DMA with PASID 1 (${what})`), a.bytes, `${what}: PASID 1 uses its table`);
      sameBytes(expectOk(() => dev.dmaRead(gva, 64, { pasid: 2 }), `DMA with PASID 2 (${what})`), b.bytes, `${what}: PASID 2 uses its table`);
      for (const pasid of [1, 2]) checkNestedReach(m, dev, gva, { pasid }, `${what}, PASID ${pasid}`);
      checkNoKernelLeaf(fd, parent, `${what}, the GPA space with the PASID table bound`);
      expectDmaFault(dev, () => dev.dmaRead(gva, 4, { pasid: 3 }), `${what}: DMA with PASID 3, absent from the guest table`);
      expectDmaFault(dev1, () => dev1.dmaRead(gva, 4, { pasid: 1 }), `${what}: another device does not see dev0's PASID table`);

      // One PASID-table child per device.
      const other = expectOk(() => fd.createNesting({ parent, protocol: 'user-pasid-table' }), 'second CREATE_NESTING(user-pasid-table)');
      expectErrno(() => dev.attachIoasid(other), 'EBUSY', 'ATTACH a second PASID-table child to the same device');
      expectOk(() => fd.free(other), 'FREE the second child');

      if (helpers.updatePasidEntry) {
        // The guest points PASID 2 at table 1, then clears it; each change takes effect after INVALIDATE_CACHE.
        helpers.updatePasidEntry(m.guest, table, ptf, { pasid: 2, root: gt1.pt.root, pgtable: pgFormat });
        expectOk(() => fd.invalidateCache({ ioasid: child, all: true }), `INVALIDATE_CACHE(all) on the PASID-table child (${what})`);
        sameBytes(expectOk(() => dev.dmaRead(gva, 64, { pasid: 2 }), `DMA with PASID 2 after the entry changed (${what})`), m.guest.read(a.gpa, 64), `${what}: PASID 2 follows its new entry`);
        helpers.updatePasidEntry(m.guest, table, ptf, { pasid: 2 });
        expectOk(() => fd.invalidateCache({ ioasid: child, all: true }), `INVALIDATE_CACHE(all) after clearing PASID 2 (${what})`);
        expectDmaFault(dev, () => dev.dmaRead(gva, 4, { pasid: 2 }), `${what}: DMA with PASID 2 after its entry was cleared`);
        sameBytes(expectOk(() => dev.dmaRead(gva, 64, { pasid: 1 }), `DMA with PASID 1 (${what})`), m.guest.read(a.gpa, 64), `${what}: PASID 1 is unaffected`);
      }

      expectOk(() => dev.detachIoasid(child), `DETACH the PASID-table child (${what})`);
      expectDmaFault(dev, () => dev.dmaRead(gva, 4, { pasid: 1 }), `${what}: DMA with PASID 1 after DETACH`);
      sameBytes(expectOk(() => dev.dmaRead(a.gpa, 64), `DMA without PASID after DETACH (${what})`), m.guest.read(a.gpa, 64), `${what}: RID routed to the GPA space`);
      expectOk(() => fd.free(child), `FREE (${what})`);
    }
    closeFd(fd);
  },
};
