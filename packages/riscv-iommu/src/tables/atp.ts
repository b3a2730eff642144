import { bitField } from '@ioasid/core';

/**
 * The address-translation-pointer doubleword shared by DC.iohgatp, DC.fsc / PC.fsc (iosatp) and
 * the DC.fsc pdtp (spec §2.1.3, §2.2.2): a 4-bit MODE in bits 63:60 and a 44-bit root page number
 * in bits 43:0. iohgatp adds GSCID in bits 59:44; in iosatp and pdtp those bits are reserved.
 */
export const ATP = {
  PPN: bitField('PPN', 43, 0),
  GSCID: bitField('GSCID', 59, 44),
  MODE: bitField('MODE', 63, 60),
} as const;

/** iosatp.MODE (first stage, SXL = 0). */
export const IOSATP_MODE = { Bare: 0, Sv39: 8, Sv48: 9, Sv57: 10 } as const;
/** iohgatp.MODE (G-stage, fctl.GXL = 0). */
export const IOHGATP_MODE = { Bare: 0, Sv39x4: 8, Sv48x4: 9, Sv57x4: 10 } as const;
/** pdtp.MODE (DC.fsc when DC.tc.PDTV = 1). */
export const PDTP_MODE = { Bare: 0, PD8: 1, PD17: 2, PD20: 3 } as const;

export type SvMode = 39 | 48 | 57;
export type PdMode = 'PD8' | 'PD17' | 'PD20';

export function svFromIosatpMode(mode: number): SvMode | null {
  return mode === 8 ? 39 : mode === 9 ? 48 : mode === 10 ? 57 : null;
}

export function iosatpModeOf(sv: SvMode): number {
  return sv === 39 ? 8 : sv === 48 ? 9 : 10;
}

export function pdModeFromPdtp(mode: number): PdMode | null {
  return mode === 1 ? 'PD8' : mode === 2 ? 'PD17' : mode === 3 ? 'PD20' : null;
}

/** Process-ID bits a PDT of `mode` resolves (PD8: 8, PD17: 17, PD20: 20). */
export function pidBitsOf(mode: PdMode): number {
  return mode === 'PD8' ? 8 : mode === 'PD17' ? 17 : 20;
}

/** The atp doubleword for a mode and root frame (and GSCID for iohgatp). */
export function encodeAtp(mode: number, rootFrame: number, gscid = 0): bigint {
  return (BigInt(mode) << 60n) | (BigInt(gscid) << 44n) | BigInt(rootFrame);
}
