import { IOHGATP_MODE, IOSATP_MODE, PDTP_MODE, iosatpModeOf } from './tables/atp.js';
import { emptyTc, type DeviceContext } from './tables/device-context.js';
import type { ProcessContext } from './tables/process-context.js';
import { GStageDomain } from './domain-gstage.js';
import { PasidTableDomain } from './domain-pasid-table.js';
import { UserPgtableDomain } from './domain-user-pgtable.js';
import type { PdtWindow } from './pdt-window.js';
import type { RvDomain } from './domain-base.js';
import type { SvMode } from './tables/atp.js';

/** What the kernel routes for one device_id (RID). */
export interface RidState {
  /** Requests without PASID. */
  rid?: RvDomain;
  /** PASID routes to nested children, through the kernel's PDT. */
  readonly pasids: Map<number, UserPgtableDomain>;
  /** The kernel-owned PDT, reachable through a copy of the G-stage (allocated with the first PASID route). */
  pdt?: PdtWindow;
  ats: boolean;
  pri: boolean;
}

const INVALID: DeviceContext = { tc: emptyTc(), iohgatp: { MODE: 0, GSCID: 0, PPN: 0 }, ta: { PSCID: 0 }, fsc: { MODE: 0, PPN: 0 } };

/**
 * The device context the kernel writes for a RID's routes (spec §2.1; Linux riscv_iommu_iodir_update):
 * - RID on a 'map' IOASID: iohgatp = its G-stage and GSCID, fsc Bare;
 * - RID on a 'user-pgtable' child: iohgatp = the parent's, fsc = iosatp of the guest's table (GPA), ta.PSCID = the child's;
 *   before the bind the DC is not valid (the route is blocked);
 * - RID on a 'user-pasid-table' child: iohgatp = the parent's table with the child's GSCID, PDTV with fsc = the guest's pdtp;
 * - PASID routes: PDTV with fsc = the kernel's PDT at its window GPA, iohgatp = the window's copy of the G-stage
 *   (pdt-window.ts); without a RID route DPE sends untagged requests to the reserved PC 0.
 */
export function composeDeviceContext(gstageMode: SvMode, s: RidState | undefined): DeviceContext {
  if (!s || (!s.rid && s.pasids.size === 0)) return INVALID;
  const route = s.rid;
  const g = gstageOf(s)!;
  // GADE: the unit sets A/D in G-stage leaves while the 'map' IOASID logs writes (spec §2.6).
  const tc = { ...emptyTc(), V: true, EN_ATS: s.ats, EN_PRI: s.pri, GADE: g.tracking };
  const gmode = IOHGATP_MODE[`Sv${gstageMode}x4` as 'Sv39x4'];
  const dc: DeviceContext = { tc, iohgatp: { MODE: gmode, GSCID: g.gscid, PPN: g.pt.root }, ta: { PSCID: 0 }, fsc: { MODE: IOSATP_MODE.Bare, PPN: 0 } };
  if (route instanceof PasidTableDomain) {
    dc.iohgatp.GSCID = route.gscidOwn;
    if (route.bound) {
      tc.PDTV = true;
      dc.fsc = { MODE: PDTP_MODE[route.bound.mode], PPN: route.bound.root };
    }
    return dc;
  }
  if (s.pasids.size > 0) {
    const w = s.pdt!;
    tc.PDTV = true;
    tc.DPE = route === undefined;
    dc.iohgatp = { MODE: gmode, GSCID: w.gscid, PPN: w.table.root };
    dc.fsc = { MODE: PDTP_MODE[w.mode], PPN: w.dir.pointer(w.dir.root) };
    return dc;
  }
  if (route instanceof UserPgtableDomain) {
    if (!route.bound) return INVALID;
    dc.ta.PSCID = route.pscid;
    dc.fsc = { MODE: iosatpModeOf(route.bound.mode), PPN: route.bound.root };
  }
  return dc;
}

/** The G-stage ('map' IOASID) a RID's DC walks, if any route is set. */
export function gstageOf(s: RidState): GStageDomain | undefined {
  const route = s.rid;
  if (route instanceof GStageDomain) return route;
  if (route instanceof UserPgtableDomain || route instanceof PasidTableDomain) return route.parent;
  return [...s.pasids.values()][0]?.parent;
}

/** A PASID route's process context: the child's guest table and PSCID, user-mode only (ENS = 0). */
export function composeProcessContext(child: UserPgtableDomain): ProcessContext {
  if (!child.bound) return { V: false, ENS: false, SUM: false, PSCID: 0, fsc: { MODE: 0, PPN: 0 } };
  return { V: true, ENS: false, SUM: false, PSCID: child.pscid, fsc: { MODE: iosatpModeOf(child.bound.mode), PPN: child.bound.root } };
}
