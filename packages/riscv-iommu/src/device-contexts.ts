import { IOHGATP_MODE, IOSATP_MODE, PDTP_MODE, iosatpModeOf } from './tables/atp.js';
import { emptyTc, type DeviceContext } from './tables/device-context.js';
import { GStageDomain } from './domain-gstage.js';
import { PasidTableDomain } from './domain-pasid-table.js';
import { UserPgtableDomain } from './domain-user-pgtable.js';
import type { RvDomain } from './domain-base.js';
import type { SvMode } from './tables/atp.js';

/** What the kernel routes for one device_id (RID). */
export interface RidState {
  /** Requests without PASID (and, through a guest PDT, with one). */
  rid?: RvDomain;
  ats: boolean;
  pri: boolean;
}

const INVALID: DeviceContext = { tc: emptyTc(), iohgatp: { MODE: 0, GSCID: 0, PPN: 0 }, ta: { PSCID: 0 }, fsc: { MODE: 0, PPN: 0 } };

/**
 * The device context the kernel writes for a RID's routes (spec §2.1; Linux riscv_iommu_iodir_update):
 * - RID on a 'map' IOASID: iohgatp = its G-stage and GSCID, fsc Bare;
 * - RID on a 'user-pgtable' child: iohgatp = the parent's, fsc = iosatp of the guest's table (GPA), ta.PSCID = the child's;
 *   before the bind the DC is not valid (the route is blocked);
 * - RID on a 'user-pasid-table' child: iohgatp = the parent's table with the child's GSCID, PDTV with fsc = the guest's pdtp.
 * The kernel never owns a PDT here: under a G-stage the unit walks pdtp and every PDT entry as GPAs
 * (spec §2.3.2), so a kernel PDT would have to be mapped into the device's own G-stage, where its
 * DMA could read it. PASID routes exist only through a guest's PDT (BIND_PASID_TABLE).
 */
export function composeDeviceContext(gstageMode: SvMode, s: RidState | undefined): DeviceContext {
  const route = s?.rid;
  if (!s || !route) return INVALID;
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
  return undefined;
}
