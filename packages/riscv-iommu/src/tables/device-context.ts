import { dwField, getFieldBig, setFieldBig } from '@ioasid/core';
import { ATP } from './atp.js';

/**
 * Device context (spec §2.1.2–2.1.8): tc, iohgatp, ta, fsc, and in the extended format msiptp,
 * msi_addr_mask, msi_addr_pattern and a reserved doubleword.
 */
export const DC_TC = {
  V: dwField('V', 0, 0),
  EN_ATS: dwField('EN_ATS', 0, 1),
  EN_PRI: dwField('EN_PRI', 0, 2),
  T2GPA: dwField('T2GPA', 0, 3),
  DTF: dwField('DTF', 0, 4),
  PDTV: dwField('PDTV', 0, 5),
  PRPR: dwField('PRPR', 0, 6),
  GADE: dwField('GADE', 0, 7),
  SADE: dwField('SADE', 0, 8),
  DPE: dwField('DPE', 0, 9),
  SBE: dwField('SBE', 0, 10),
  SXL: dwField('SXL', 0, 11),
} as const;
/** tc bits 63:12 are reserved. */
export const DC_TC_RESERVED = ~0xfffn & 0xffff_ffff_ffff_ffffn;

export const DC_IOHGATP = {
  PPN: dwField('PPN', 1, 43, 0),
  GSCID: dwField('GSCID', 1, 59, 44),
  MODE: dwField('MODE', 1, 63, 60),
} as const;

/** ta: PSCID in bits 31:12; 11:0 and 63:32 reserved. */
export const DC_TA = { PSCID: dwField('PSCID', 2, 31, 12) } as const;
export const DC_TA_RESERVED = 0xffff_ffff_0000_0fffn;

/** fsc: iosatp (PDTV = 0) or pdtp (PDTV = 1); bits 59:44 reserved either way. */
export const DC_FSC = {
  PPN: dwField('PPN', 3, 43, 0),
  MODE: dwField('MODE', 3, 63, 60),
} as const;
export const FSC_RESERVED = 0x0fff_f000_0000_0000n;

/** Extended format only (capabilities.MSI_FLAT = 1). */
export const DC_MSI = {
  msiptp_PPN: dwField('PPN', 4, 43, 0),
  msiptp_MODE: dwField('MODE', 4, 63, 60),
  msi_addr_mask: dwField('mask', 5, 51, 0),
  msi_addr_pattern: dwField('pattern', 6, 51, 0),
} as const;

export interface DeviceContext {
  tc: {
    V: boolean;
    EN_ATS: boolean;
    EN_PRI: boolean;
    T2GPA: boolean;
    DTF: boolean;
    PDTV: boolean;
    PRPR: boolean;
    GADE: boolean;
    SADE: boolean;
    DPE: boolean;
    SBE: boolean;
    SXL: boolean;
  };
  iohgatp: { MODE: number; GSCID: number; PPN: number };
  ta: { PSCID: number };
  fsc: { MODE: number; PPN: number };
  msiptp?: { MODE: number; PPN: number };
  msiAddrMask?: bigint;
  msiAddrPattern?: bigint;
}

export const TC_FIELDS = Object.keys(DC_TC) as (keyof typeof DC_TC)[];

export function emptyTc(): DeviceContext['tc'] {
  return { V: false, EN_ATS: false, EN_PRI: false, T2GPA: false, DTF: false, PDTV: false, PRPR: false, GADE: false, SADE: false, DPE: false, SBE: false, SXL: false };
}

/** The doublewords of a device context (4 in the base format, 8 in the extended). */
export function encodeDeviceContext(dc: DeviceContext, extended: boolean): bigint[] {
  let tc = 0n;
  for (const k of TC_FIELDS) tc = setFieldBig(tc, DC_TC[k], dc.tc[k]);
  const iohgatp = (BigInt(dc.iohgatp.MODE) << 60n) | (BigInt(dc.iohgatp.GSCID) << 44n) | BigInt(dc.iohgatp.PPN);
  const ta = BigInt(dc.ta.PSCID) << 12n;
  const fsc = (BigInt(dc.fsc.MODE) << 60n) | BigInt(dc.fsc.PPN);
  const q = [tc, iohgatp, ta, fsc];
  if (!extended) return q;
  const msiptp = dc.msiptp ? (BigInt(dc.msiptp.MODE) << 60n) | BigInt(dc.msiptp.PPN) : 0n;
  return [...q, msiptp, dc.msiAddrMask ?? 0n, dc.msiAddrPattern ?? 0n, 0n];
}

/** Decodes the fields (reserved bits are the configuration checks' business, not this). */
export function decodeDeviceContext(q: readonly bigint[]): DeviceContext {
  const tc = {} as DeviceContext['tc'];
  for (const k of TC_FIELDS) tc[k] = getFieldBig(q, DC_TC[k]) !== 0n;
  const dc: DeviceContext = {
    tc,
    iohgatp: { MODE: Number(getFieldBig(q, DC_IOHGATP.MODE)), GSCID: Number(getFieldBig(q, DC_IOHGATP.GSCID)), PPN: Number(getFieldBig(q, DC_IOHGATP.PPN)) },
    ta: { PSCID: Number(getFieldBig(q, DC_TA.PSCID)) },
    fsc: { MODE: Number(getFieldBig(q, DC_FSC.MODE)), PPN: Number(getFieldBig(q, DC_FSC.PPN)) },
  };
  if (q.length >= 8) {
    dc.msiptp = { MODE: Number(getFieldBig(q, DC_MSI.msiptp_MODE)), PPN: Number(getFieldBig(q, DC_MSI.msiptp_PPN)) };
    dc.msiAddrMask = getFieldBig(q, DC_MSI.msi_addr_mask);
    dc.msiAddrPattern = getFieldBig(q, DC_MSI.msi_addr_pattern);
  }
  return dc;
}

export { ATP };
