import type { TraceFieldValue } from '@ioasid/core';
import { ATP, IOHGATP_MODE, IOSATP_MODE, pdModeFromPdtp, svFromIosatpMode } from '../tables/atp.js';
import { DDTE, DDTE_RESERVED, ddi, ddiLayout, deviceIdBits, ddtLevels } from '../tables/ddt.js';
import { DC_TA_RESERVED, DC_TC_RESERVED, FSC_RESERVED, decodeDeviceContext, type DeviceContext } from '../tables/device-context.js';
import { CAUSE } from '../tables/fault-catalogue.js';
import { DDTP_MODE, type DdtpMode } from './registers.js';
import { inMemory, type WalkEnv, type WalkFault } from './walk-env.js';

const MODE_NAMES = Object.fromEntries(Object.entries(DDTP_MODE).map(([k, v]) => [v, k])) as Record<number, DdtpMode>;

export function ddtpModeName(mode: number): DdtpMode | undefined {
  return MODE_NAMES[mode];
}

/**
 * Locating the device context (spec §2.3.1): walk the DDT from ddtp, fetch the DC, check it
 * (§2.1.4 "Device-context configuration checks"). The device_id must fit the DDT's levels.
 */
export function fetchDeviceContext(env: WalkEnv, ddtpMode: DdtpMode, rootFrame: number, deviceId: number): DeviceContext | WalkFault {
  const layout = ddiLayout(env.caps.msiFlat);
  const levels = ddtLevels(ddtpMode);
  if (deviceId >= 2 ** deviceIdBits(layout, levels)) return { cause: CAUSE.TTYP_BLOCKED, why: `device_id 0x${deviceId.toString(16)} wider than a ${ddtpMode} DDT` };
  let a = rootFrame * 4096;
  for (let i = levels - 1; i > 0; i--) {
    const index = ddi(layout, deviceId, i);
    const pa = a + index * 8;
    if (!inMemory(env, pa, 8)) return { cause: CAUSE.DDT_LOAD_FAULT, why: `DDT entry at 0x${pa.toString(16)} outside memory` };
    const raw = env.mem.u64(pa);
    const v = (raw & 1n) !== 0n;
    const fields: Record<string, TraceFieldValue> = { V: v, PPN: (raw >> 10n) & ((1n << 44n) - 1n) };
    if (!v) {
      env.tracer?.read({ structure: 'non-leaf DDT entry', level: i, index, addr: BigInt(pa), raw: [raw], fields, decided: 'V = 0' });
      return { cause: CAUSE.DDT_INVALID, why: `non-leaf DDT entry DDI[${i}] = ${index} not valid` };
    }
    if ((raw & DDTE_RESERVED) !== 0n) {
      env.tracer?.read({ structure: 'non-leaf DDT entry', level: i, index, addr: BigInt(pa), raw: [raw], fields, decided: 'reserved bits' });
      return { cause: CAUSE.DDT_MISCONFIGURED, why: `non-leaf DDT entry DDI[${i}] reserved bits set` };
    }
    env.tracer?.read({ structure: 'non-leaf DDT entry', level: i, index, addr: BigInt(pa), raw: [raw], fields, decided: 'V = 1' });
    a = Number((raw >> BigInt(DDTE.PPN.lo)) & ((1n << 44n) - 1n)) * 4096;
  }
  const index = ddi(layout, deviceId, 0);
  const pa = a + index * layout.dcBytes;
  if (!inMemory(env, pa, layout.dcBytes)) return { cause: CAUSE.DDT_LOAD_FAULT, why: `device context at 0x${pa.toString(16)} outside memory` };
  const q: bigint[] = [];
  for (let k = 0; k < layout.dcBytes / 8; k++) q.push(env.mem.u64(pa + 8 * k));
  const dc = decodeDeviceContext(q);
  const bad = dc.tc.V ? dcMisconfigured(env, dc, q) : null;
  env.tracer?.read({
    structure: 'device context',
    level: 0,
    index,
    addr: BigInt(pa),
    raw: q,
    fields: { ...dc.tc, 'iohgatp.MODE': dc.iohgatp.MODE, 'iohgatp.GSCID': dc.iohgatp.GSCID, 'iohgatp.PPN': BigInt(dc.iohgatp.PPN), 'ta.PSCID': dc.ta.PSCID, 'fsc.MODE': dc.fsc.MODE, 'fsc.PPN': BigInt(dc.fsc.PPN) },
    decided: !dc.tc.V ? 'tc.V = 0' : bad ?? 'tc.V = 1',
  });
  if (!dc.tc.V) return { cause: CAUSE.DDT_INVALID, why: 'device context tc.V = 0' };
  if (bad) return { cause: CAUSE.DDT_MISCONFIGURED, why: bad };
  return dc;
}

/** §2.1.4: the reason a valid DC is misconfigured, or null. */
export function dcMisconfigured(env: WalkEnv, dc: DeviceContext, q: readonly bigint[]): string | null {
  const c = env.caps;
  if ((q[0] & DC_TC_RESERVED) !== 0n) return 'tc reserved bits set';
  if ((q[2] & DC_TA_RESERVED) !== 0n) return 'ta reserved bits set';
  if ((q[3] & FSC_RESERVED) !== 0n) return 'fsc reserved bits set';
  if (q.length > 4 && (q[7] !== 0n || (q[4] & FSC_RESERVED) !== 0n || (q[5] >> 52n) !== 0n || (q[6] >> 52n) !== 0n)) return 'MSI fields reserved bits set';
  if (q.length > 4 && Number(q[4] >> 60n) > 1) return 'msiptp.MODE neither Off nor Flat';
  if (!c.ats && (dc.tc.EN_ATS || dc.tc.EN_PRI || dc.tc.PRPR)) return 'EN_ATS/EN_PRI/PRPR without capabilities.ATS';
  if (!dc.tc.EN_ATS && (dc.tc.EN_PRI || dc.tc.T2GPA)) return 'EN_PRI or T2GPA without EN_ATS';
  if (!dc.tc.EN_PRI && dc.tc.PRPR) return 'PRPR without EN_PRI';
  if (!c.t2gpa && dc.tc.T2GPA) return 'T2GPA without capabilities.T2GPA';
  if (dc.tc.PDTV) {
    const pd = pdModeFromPdtp(dc.fsc.MODE);
    if (dc.fsc.MODE !== 0 && (!pd || (pd === 'PD8' && !c.pd8) || (pd === 'PD17' && !c.pd17) || (pd === 'PD20' && !c.pd20))) return `pdtp.MODE ${dc.fsc.MODE} not supported`;
  } else {
    const sv = svFromIosatpMode(dc.fsc.MODE);
    if (dc.fsc.MODE !== IOSATP_MODE.Bare && (!sv || !c.sv[sv])) return `iosatp.MODE ${dc.fsc.MODE} not supported`;
    if (dc.tc.DPE) return 'DPE without PDTV';
  }
  if (dc.iohgatp.MODE !== IOHGATP_MODE.Bare) {
    const g = svFromIosatpMode(dc.iohgatp.MODE);
    if (!g || !c.svx4[g]) return `iohgatp.MODE ${dc.iohgatp.MODE} not supported`;
    if (dc.iohgatp.PPN % 4 !== 0) return 'iohgatp root not aligned to 16 KiB';
  }
  if (!c.amoHwad && (dc.tc.SADE || dc.tc.GADE)) return 'SADE/GADE without capabilities.AMO_HWAD';
  if (dc.tc.SBE) return 'SBE differs from fctl.BE (capabilities.END = 0)';
  if (dc.tc.SXL) return 'SXL = 1 with fctl.GXL = 0 not writable';
  return null;
}

export { ATP };
