import { getAddr, getField } from '@ioasid/core';
import { psDecode, stage1FromTcr, tgDecode } from '../formats/lpae-geometry.js';
import { CD, CD_ADDR, type CdFieldName } from '../tables/cd.js';
import type { IdCaps } from './features.js';
import type { StageConfig } from './lpae-walk.js';

/** A CD as the hardware decoded and validated it (held in the configuration cache). */
export interface ContextConfig {
  readonly ssid: number;
  readonly asid: number;
  readonly s1cfg: StageConfig;
  /** EPD0: walks of the TTB0 range are disabled (every access faults). */
  readonly epd0: boolean;
  /** CD.S: stage 1 faults stall. CD.R: stage 1 faults are recorded. */
  readonly stall: boolean;
  readonly record: boolean;
}

/**
 * Validates a CD (SMMUv3 §5.4 "ILLEGAL" rules, as QEMU hw/arm/smmuv3.c decode_cd checks them):
 * returns the reason it is ILLEGAL (→ C_BAD_CD) or the decoded context.
 */
export function decodeContextConfig(ssid: number, w: ArrayLike<number>, caps: IdCaps, s1stalld: boolean): ContextConfig | string {
  const f = (name: CdFieldName): number => getField(w, 0, CD[name]);
  if (!f('V')) return 'CD.V is 0';
  if (!f('AA64')) return 'CD.AA64 is 0 but only AArch64 tables are supported';
  if (f('ENDI')) return 'CD.ENDI is 1 but tables are little-endian only';
  if (!f('A')) return 'CD.A is 0 but SMMU_IDR0.TERM_MODEL is 1 (abort only)';
  if (f('IPS') > 6) return `CD.IPS ${f('IPS')} is reserved`;
  // SMMUv3 §5.4 CD.HA/HD: ILLEGAL beyond what SMMU_IDR0.HTTU offers.
  if (f('HA') && caps.httu === 0) return 'CD.HA is 1 but SMMU_IDR0.HTTU is 0';
  if (f('HD') && caps.httu < 2) return `CD.HD is 1 but SMMU_IDR0.HTTU is ${caps.httu}`;
  if (f('S') && s1stalld) return 'CD.S is 1 while STE.S1STALLD is 1';
  if (f('S') && !caps.stall) return 'CD.S is 1 but the SMMU cannot stall';
  const epd0 = f('EPD0') === 1;
  const granule = tgDecode(f('TG0'));
  if (granule === null || !caps.granules.includes(granule)) {
    if (!epd0) return `CD.TG0 ${f('TG0')} is not a supported granule`;
  }
  const geo = granule === null ? null : stage1FromTcr(granule, f('T0SZ'));
  if (!geo && !epd0) return `CD.T0SZ ${f('T0SZ')} is outside 16..39`;
  const ttb = getAddr(w, 0, CD_ADDR.TTB0);
  if (geo && !epd0) {
    const topBytes = 8 * 2 ** geo.topBits;
    if (ttb % Math.min(topBytes, 2 ** 52) !== 0) return 'CD.TTB0 is not aligned to the size of the top-level table';
  }
  return {
    ssid,
    asid: f('ASID'),
    epd0: epd0 || !geo,
    stall: f('S') === 1,
    record: f('R') === 1,
    s1cfg: {
      geo: geo ?? stage1FromTcr(4096, 16)!,
      stage: 1,
      ttb,
      psBits: Math.min(psDecode(f('IPS')), caps.oasBits),
      affd: f('AFFD') === 1,
      // {HD, HA} = 0b10 is reserved and behaves as 0b00 (SMMUv3 §5.4 CD.HA).
      ha: f('HA') === 1,
      hd: f('HD') === 1 && f('HA') === 1,
    },
  };
}
