import type { PgtableFormat } from '@ioasid/core';
import type { CaseDef } from '../types.js';
import {
  check,
  closeFd,
  expectErrno,
  expectOk,
  firstFormat,
  gpaSpace,
  guestData,
  guestTable,
  newMachine,
  openFd,
  sameBytes,
  supportsUserPgtable,
} from '../kit.js';

/** Copies of `f` with one numeric parameter set far outside anything GET_INFO can list. */
function outOfRange(f: PgtableFormat): [string, PgtableFormat][] {
  return Object.entries(f)
    .filter(([k, v]) => k !== 'kind' && typeof v === 'number')
    .map(([k]) => [k, { ...f, [k]: 1_000_000_007 }]);
}

/**
 * Format enforcement: the format is fixed at creation (the other protocol's commands fail with
 * EOPNOTSUPP), and a bind takes only a format GET_INFO lists, with parameters within it.
 */
export const formatCase: CaseDef = {
  id: 'contract-format',
  group: 'contract',
  title: 'format enforcement: protocol fixed at creation, BIND takes only GET_INFO formats and parameters',
  run(env, caps) {
    const m = newMachine(env);
    const { fd, devs } = openFd(m, 'dev0', 'dev1');
    const [d0, d1] = devs;
    const { parent, info } = gpaSpace(m, fd, [d0, d1]);
    expectErrno(() => fd.bindPgtable({ ioasid: parent, addr: 0n, format: info.formats[0] ?? { kind: 'x' } }), 'EOPNOTSUPP', 'BIND_PGTABLE on a map IOASID');
    expectErrno(() => fd.bindPasidTable({ ioasid: parent, addr: 0n, format: info.pasidTableFormats[0] ?? { kind: 'x' } }), 'EOPNOTSUPP', 'BIND_PASID_TABLE on a map IOASID');
    const binding = supportsUserPgtable(caps.dev) || caps.dev.protocols.includes('user-pasid-table');
    if (!binding) {
      expectErrno(() => fd.createNesting({ parent, protocol: 'user-pgtable' }), 'EOPNOTSUPP', 'CREATE_NESTING(user-pgtable) on a vendor that lists no binding protocol');
      expectErrno(() => fd.createNesting({ parent, protocol: 'user-pasid-table' }), 'EOPNOTSUPP', 'CREATE_NESTING(user-pasid-table) on a vendor that lists no binding protocol');
    }

    if (supportsUserPgtable(caps.dev)) {
      const f = firstFormat(info);
      const c = expectOk(() => fd.createNesting({ parent, protocol: 'user-pgtable' }), 'CREATE_NESTING(user-pgtable)');
      expectOk(() => d0.attachIoasid(c), 'ATTACH dev0 → child');
      const gt = guestTable(m, f);
      const a = guestData(m, gt.page, 95);
      gt.pt.map(gt.page, a.gpa, gt.page, { read: true, write: true });
      expectErrno(() => fd.mapDma({ ioasid: c, iova: 0n, vaddr: 0n, size: gt.page }), 'EOPNOTSUPP', 'MAP_DMA on a user-pgtable IOASID');
      expectErrno(() => fd.bindPasidTable({ ioasid: c, addr: gt.pt.root, format: info.pasidTableFormats[0] ?? { kind: 'x' } }), 'EOPNOTSUPP', 'BIND_PASID_TABLE on a user-pgtable IOASID');
      expectErrno(() => fd.bindPgtable({ ioasid: c, addr: gt.pt.root, format: { kind: 'conformance-unknown-format' } }), 'EINVAL', 'BIND_PGTABLE with a format GET_INFO does not list');
      expectErrno(() => fd.bindPgtable({ ioasid: c, addr: gt.pt.root, format: null as never }), 'EINVAL', 'BIND_PGTABLE without a format');
      expectErrno(() => fd.bindPgtable({ ioasid: c, addr: gt.pt.root + 8n, format: f }), 'EINVAL', 'BIND_PGTABLE with an unaligned table address');
      for (const [k, bad] of outOfRange(f)) {
        expectErrno(() => fd.bindPgtable({ ioasid: c, addr: gt.pt.root, format: bad }), 'EINVAL', `BIND_PGTABLE with ${k} outside what GET_INFO lists`);
      }
      expectOk(() => fd.bindPgtable({ ioasid: c, addr: gt.pt.root, format: f }), 'BIND_PGTABLE with the listed format');
      sameBytes(expectOk(() => d0.dmaRead(gt.page, 64), 'DMA through the bound table'), a.bytes, 'refused binds left the child usable');
    }

    if (caps.dev.protocols.includes('user-pasid-table')) {
      check(info.pasidTableFormats.length > 0, "GET_INFO lists 'user-pasid-table' without a PASID-table format");
      const ptf = info.pasidTableFormats[0];
      const p = expectOk(() => fd.createNesting({ parent, protocol: 'user-pasid-table' }), 'CREATE_NESTING(user-pasid-table)');
      expectOk(() => d1.attachIoasid(p), 'ATTACH dev1 → PASID-table child');
      const table = m.guest.allocPages(4096n);
      expectErrno(() => fd.mapDma({ ioasid: p, iova: 0n, vaddr: 0n, size: 4096n }), 'EOPNOTSUPP', 'MAP_DMA on a user-pasid-table IOASID');
      expectErrno(() => fd.bindPgtable({ ioasid: p, addr: table, format: info.formats[0] ?? { kind: 'x' } }), 'EOPNOTSUPP', 'BIND_PGTABLE on a user-pasid-table IOASID');
      expectErrno(() => fd.bindPasidTable({ ioasid: p, addr: table, format: { kind: 'conformance-unknown-format' } }), 'EINVAL', 'BIND_PASID_TABLE with a format GET_INFO does not list');
      for (const [k, bad] of outOfRange(ptf)) {
        expectErrno(() => fd.bindPasidTable({ ioasid: p, addr: table, format: bad }), 'EINVAL', `BIND_PASID_TABLE with ${k} outside what GET_INFO lists`);
      }
      expectOk(() => fd.bindPasidTable({ ioasid: p, addr: table, format: ptf }), 'BIND_PASID_TABLE with the listed format (an empty table)');
    }
    closeFd(fd);
  },
};
