import { psEncode, tgEncode, type Granule } from './formats/lpae-geometry.js';
import { LINUX_MAIR } from './formats/lpae.js';
import { RGN_WBWA, encodeCd, mairFields } from './tables/cd.js';
import { SH_ISH } from './tables/ste.js';

export interface S1CdParams {
  ttb0: number;
  granule: Granule;
  ias: number;
  asid: number;
  /** Intermediate/physical address size for CD.IPS. */
  ipsBits: number;
  stall?: boolean;
  /** Hardware access flag and dirty state updates (CD.HA, CD.HD; Linux: IO_PGTABLE_QUIRK_ARM_HD). */
  hd?: boolean;
}

/**
 * A stage 1 CD as Linux arm_smmu_make_s1_cd writes it: TCR fields from io-pgtable, EPD1 (no
 * TTB1), V, IPS, AA64, R (record faults), A (abort), ASET (shared ASID set), ASID, TTB0, MAIR0.
 */
export function s1Cd(p: S1CdParams): Uint32Array {
  return encodeCd({
    T0SZ: 64 - p.ias,
    TG0: tgEncode(p.granule),
    IRGN0: RGN_WBWA,
    ORGN0: RGN_WBWA,
    SH0: SH_ISH,
    EPD1: 1,
    V: 1,
    IPS: psEncode(p.ipsBits),
    AA64: 1,
    S: p.stall ? 1 : 0,
    R: 1,
    A: 1,
    ASET: 1,
    ASID: p.asid,
    ...(p.hd === true ? { HA: 1, HD: 1 } : {}),
    TTB0: p.ttb0,
    ...mairFields(LINUX_MAIR),
  });
}
