import type { Device, IoasidFd, Machine, PgtableFormat } from '@ioasid/core';
import { ConformanceFailure, firstFormat, gpaSpace, guestData, guestTable, newMachine, openFd, type GuestTable } from '../../kit.js';
import type { KitEnv } from '../../types.js';
import { attempt } from '../api.js';
import { HOLE } from './scenarios.js';

export type ViewMode = 'pgtable' | 'pasid-table';

/** A nested child bound to a guest table (or a guest PASID table over it), before it turns hostile. */
export interface BoundChild {
  m: Machine;
  fd: IoasidFd;
  dev: Device;
  parent: number;
  child: number;
  gt: GuestTable;
  /** GPA of the guest PASID table (pasid-table mode). */
  pasidTable?: bigint;
  /** The PASID a DMA or LOOKUP carries (pasid-table mode), else undefined. */
  pasid?: number;
  gva(slot: number): bigint;
}

function need<T>(what: string, fn: () => T): T {
  const r = attempt(what, fn);
  if (!r.ok) throw new ConformanceFailure(`views: setting up failed at ${what}: ${r.error?.message ?? ''}`);
  return r.value;
}

export function boundChild(env: KitEnv, mode: ViewMode): BoundChild {
  // Small guest RAM: the parent maps all of it, and views walk it (the first PASID-table format GET_INFO lists is a small one).
  const m = newMachine(env, { guestMemory: (mode === 'pasid-table' ? 16n : 8n) << 20n });
  const { fd, devs } = openFd(m, 'dev0');
  const dev = devs[0];
  const { parent, info } = gpaSpace(m, fd, devs, HOLE);
  const format: PgtableFormat = firstFormat(info);
  const gt = guestTable(m, format);
  const gva = (s: number) => BigInt(s + 1) * gt.page;
  for (let s = 0; s < 4; s++) gt.pt.map(gva(s), guestData(m, gt.page, 0x900 + s).gpa, gt.page);
  if (mode === 'pgtable') {
    const child = need('CREATE_NESTING(user-pgtable)', () => fd.createNesting({ parent, protocol: 'user-pgtable' }));
    need('ATTACH dev0 → child', () => dev.attachIoasid(child));
    need('BIND_PGTABLE', () => fd.bindPgtable({ ioasid: child, addr: gt.pt.root, format }));
    return { m, fd, dev, parent, child, gt, gva };
  }
  const ptf = info.pasidTableFormats[0];
  const helpers = m.driver.guest;
  if (!ptf || !helpers?.buildPasidTable) throw new ConformanceFailure("views: GET_INFO lists 'user-pasid-table' without a format or a guest buildPasidTable helper");
  const child = need('CREATE_NESTING(user-pasid-table)', () => fd.createNesting({ parent, protocol: 'user-pasid-table' }));
  need('ATTACH dev0 → PASID-table child', () => dev.attachIoasid(child));
  const table = need('guest buildPasidTable', () => helpers.buildPasidTable!(m.guest, ptf, [1, 2, 3].map((pasid) => ({ pasid, root: gt.pt.root, pgtable: format }))));
  need('BIND_PASID_TABLE', () => fd.bindPasidTable({ ioasid: child, addr: table, format: ptf }));
  // The PASID table itself used as a page table: a loop across structure kinds.
  if (helpers.updatePasidEntry) attempt('guest updatePasidEntry', () => helpers.updatePasidEntry!(m.guest, table, ptf, { pasid: 4, root: table, pgtable: format }));
  return { m, fd, dev, parent, child, gt, pasidTable: table, pasid: 1, gva };
}
