import type { Device, IoasidFd, IoasidInfo, Machine } from '@ioasid/core';
import type { Caps, KitEnv } from './types.js';
import { boundPasid, check, expectOk, newMachine, newPasidTableMachine, pickPasid, rejectsNesting, supportsUserPgtable, type GuestTable } from './kit.js';

/**
 * How a case puts a guest page table behind a device: bound to a 'user-pgtable' child (at the
 * RID, or at a vPASID where the vendor takes one), or — on a vendor that offers no bound table,
 * such as SMMUv3 — as one PASID of the guest's own PASID table bound to a 'user-pasid-table'
 * child. Either way the device's DMAs carry `pasid` and INVALIDATE_CACHE goes to `child`.
 */
export interface NestedRoute {
  child: number;
  pasid: number | undefined;
  /** 'bound table at the RID', 'bound table at vPASID 4', 'PASID 1 of the guest's PASID table'. */
  how: string;
}

/** The device can be given a guest PASID table: the protocol, a format and the guest helper to write one. */
export function hasGuestPasidTable(caps: Caps, info: IoasidInfo): boolean {
  return info.protocols.includes('user-pasid-table') && info.pasidTableFormats.length > 0 && caps.guest?.buildPasidTable !== undefined;
}

function byPasidTable(caps: Caps, info: IoasidInfo): boolean {
  return !supportsUserPgtable(info) && hasGuestPasidTable(caps, info);
}

/** Why no guest table can be put behind a device with this GET_INFO, or null. */
export function nestedRouteNeeds(caps: Caps, info: IoasidInfo): string | null {
  if (supportsUserPgtable(info) || byPasidTable(caps, info)) return null;
  return `GET_INFO lists neither 'user-pgtable' nor 'user-pasid-table' with a PASID-table format (nesting: ${info.nesting})`;
}

/** The refusal of both nesting protocols a vendor does not list (CREATE_NESTING → EOPNOTSUPP). */
export function rejectsNestedRoutes(env: KitEnv, info: IoasidInfo): void {
  for (const p of ['user-pgtable', 'user-pasid-table'] as const) if (!info.protocols.includes(p)) rejectsNesting(env, p);
}

/** A kit machine with guest RAM for the route: the largest listed PASID table fits when the route is one. */
export function routeMachine(env: KitEnv, caps: Caps, info: IoasidInfo): Machine {
  return byPasidTable(caps, info) ? newPasidTableMachine(env) : newMachine(env);
}

/**
 * Puts `gt` behind `dev` (already attached to `parent`): CREATE_NESTING, ATTACH, then BIND_PGTABLE,
 * or the guest's PASID table holding `gt` at one PASID and BIND_PASID_TABLE. `pasid` asks for a
 * PASID-tagged route where the vendor takes one (a bound table at a vPASID); a PASID-table route
 * is always PASID-tagged.
 */
export function bindNestedRoute(m: Machine, fd: IoasidFd, parent: number, dev: Device, caps: Caps, info: IoasidInfo, gt: GuestTable, want: { pasid: boolean; preferred: number }): NestedRoute {
  if (byPasidTable(caps, info)) {
    const pasid = pickPasid(info.pasidBits, want.preferred);
    const ptf = info.pasidTableFormats[0];
    const child = expectOk(() => fd.createNesting({ parent, protocol: 'user-pasid-table' }), 'CREATE_NESTING(user-pasid-table)');
    expectOk(() => dev.attachIoasid(child), `ATTACH ${dev.name} → PASID-table child`);
    const table = expectOk(() => m.driver.guest!.buildPasidTable!(m.guest, ptf, [{ pasid, root: gt.pt.root, pgtable: gt.format }]), `guest.buildPasidTable with PASID ${pasid}`);
    expectOk(() => fd.bindPasidTable({ ioasid: child, addr: table, format: ptf }), 'BIND_PASID_TABLE');
    return { child, pasid, how: `PASID ${pasid} of the guest's PASID table` };
  }
  check(supportsUserPgtable(info), () => `no nested route: ${nestedRouteNeeds(caps, info)}`);
  const pasid = want.pasid ? boundPasid(caps, info, want.preferred) : undefined;
  const child = expectOk(() => fd.createNesting({ parent, protocol: 'user-pgtable' }), 'CREATE_NESTING(user-pgtable)');
  expectOk(() => dev.attachIoasid(child, pasid === undefined ? {} : { userPasid: pasid }), `ATTACH ${dev.name} → child${pasid === undefined ? '' : ` with vPASID ${pasid}`}`);
  expectOk(() => fd.bindPgtable({ ioasid: child, addr: gt.pt.root, format: gt.format }), 'BIND_PGTABLE');
  return { child, pasid, how: pasid === undefined ? 'bound table at the RID' : `bound table at vPASID ${pasid}` };
}
