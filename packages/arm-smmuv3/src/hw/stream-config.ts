import { getAddr, getField } from '@ioasid/core';
import { GRANULES, psDecode, stage2FromVtcr, tgDecode } from '../formats/lpae-geometry.js';
import {
  EATS_ABT,
  EATS_SPLIT,
  EATS_TRANS,
  S1DSS_SSID0,
  S1FMT_4K_L2,
  S1FMT_64K_L2,
  S1FMT_LINEAR,
  STE,
  STE_ADDR,
  STE_CONFIG_BYPASS,
  STE_CONFIG_NESTED,
} from '../tables/ste.js';
import type { IdCaps } from './features.js';
import type { StageConfig } from './lpae-walk.js';
import { s2Tag } from './tlb.js';

/** An STE as the hardware decoded and validated it (the configuration cache holds these). */
export interface StreamConfig {
  readonly sid: number;
  readonly config: number;
  readonly abort: boolean;
  readonly bypass: boolean;
  readonly s1: boolean;
  readonly s2: boolean;
  readonly s1fmt: number;
  readonly s1cdmax: number;
  /** S1ContextPtr: a PA, or an IPA when stage 2 is enabled too. */
  readonly ctxPtr: number;
  readonly s1dss: number;
  readonly s1stalld: boolean;
  readonly eats: number;
  readonly vmid: number;
  readonly s2cfg: StageConfig | null;
  readonly s2ptw: boolean;
  readonly s2stall: boolean;
  readonly s2record: boolean;
  /** TLB tag of the stream's stage-2-only entries (s2Tag(vmid)), computed when the STE is cached. */
  readonly s2tag: number;
}

/**
 * Why STE.EATS is ILLEGAL in a translating STE, or null (SMMUv3 §5.2 STE.EATS): split-stage
 * ATS needs Config 0b111 with S2S = 0 (this unit has SMMU_IDR0.NS1ATS = 0, so it offers the
 * mode), and full ATS cannot be combined with stage 2 stalling (the SMMUv3.1 rule, which Arm
 * recommends applying to Config 0b11x only).
 */
function illegalEats(eats: number, config: number, s2stall: boolean): string | null {
  if (eats === EATS_SPLIT && config !== STE_CONFIG_NESTED) return 'EATS = 0b10 (split-stage ATS) needs STE.Config = 0b111';
  if (eats === EATS_SPLIT && s2stall) return 'EATS = 0b10 (split-stage ATS) with STE.S2S = 1';
  if (eats === EATS_TRANS && (config & 0b010) !== 0 && s2stall) return 'EATS = 0b01 (full ATS) with stage 2 and STE.S2S = 1';
  return null;
}

/** Why an STE is ILLEGAL (→ C_BAD_STE), or null (SMMUv3 §5.2 field rules, QEMU decode_ste). */
export function decodeStreamConfig(sid: number, w: ArrayLike<number>, caps: IdCaps): StreamConfig | string {
  const f = (name: keyof typeof STE): number => getField(w, 0, STE[name]);
  if (!f('V')) return 'STE.V is 0';
  const config = f('Config');
  // Config 0b0xx aborts without an event (QEMU STE_CFG_ABORT); 0b100 bypasses.
  const abort = (config & 0b100) === 0;
  const bypass = config === STE_CONFIG_BYPASS;
  const s1 = !abort && (config & 0b001) !== 0;
  const s2 = !abort && (config & 0b010) !== 0;
  if (s1 && !caps.s1p) return 'stage 1 configured but SMMU_IDR0.S1P is 0';
  if (s2 && !caps.s2p) return 'stage 2 configured but SMMU_IDR0.S2P is 0';
  const base: Omit<StreamConfig, 'abort' | 'bypass' | 's1' | 's2' | 's2tag'> = {
    sid,
    config,
    s1fmt: f('S1Fmt'),
    s1cdmax: f('S1CDMax'),
    ctxPtr: getAddr(w, 0, STE_ADDR.S1ContextPtr),
    s1dss: f('S1DSS'),
    s1stalld: f('S1STALLD') === 1,
    // EATS is IGNORED without SMMU_IDR0.ATS (SMMUv3 §5.2 STE.EATS).
    eats: caps.ats ? f('EATS') : EATS_ABT,
    vmid: f('S2VMID'),
    s2cfg: null,
    s2ptw: f('S2PTW') === 1,
    s2stall: f('S2S') === 1,
    s2record: f('S2R') === 1,
  };
  if (s1) {
    if (base.s1cdmax > caps.ssidBits) return `S1CDMax ${base.s1cdmax} exceeds SMMU_IDR1.SSIDSIZE ${caps.ssidBits}`;
    if (base.s1cdmax > 0) {
      if (base.s1fmt !== S1FMT_LINEAR && base.s1fmt !== S1FMT_4K_L2 && base.s1fmt !== S1FMT_64K_L2) return `S1Fmt ${base.s1fmt} is reserved`;
      if (base.s1fmt !== S1FMT_LINEAR && !caps.cd2l) return 'two-level CD table but SMMU_IDR0.CD2L is 0';
      if (base.s1dss > S1DSS_SSID0) return `S1DSS ${base.s1dss} is reserved`;
    }
    if (!s2 && base.ctxPtr >= 2 ** caps.oasBits) return 'S1ContextPtr is beyond the output address size';
  }
  let s2cfg: StageConfig | null = null;
  if (s2) {
    if (!f('S2AA64')) return 'S2AA64 is 0 but only AArch64 tables are supported (SMMU_IDR0.TTF)';
    if (f('S2ENDI')) return 'S2ENDI is 1 but tables are little-endian only (SMMU_IDR0.TTENDIAN)';
    const granule = tgDecode(f('S2TG'));
    if (granule === null || !GRANULES.includes(granule) || !caps.granules.includes(granule)) return `S2TG ${f('S2TG')} is not a supported granule`;
    const geo = stage2FromVtcr(granule, f('S2T0SZ'), f('S2SL0'));
    if (!geo) return `S2T0SZ ${f('S2T0SZ')} with S2SL0 ${f('S2SL0')} is not a valid stage 2 walk for the ${granule / 1024}K granule`;
    if (base.s2stall && !caps.stall) return 'S2S is 1 but the SMMU cannot stall';
    // SMMUv3 §5.2 STE.S2HA/S2HD: ILLEGAL beyond what SMMU_IDR0.HTTU offers.
    if (f('S2HA') && caps.httu === 0) return 'S2HA is 1 but SMMU_IDR0.HTTU is 0';
    if (f('S2HD') && caps.httu < 2) return `S2HD is 1 but SMMU_IDR0.HTTU is ${caps.httu}`;
    const ttb = getAddr(w, 0, STE_ADDR.S2TTB);
    const topBytes = 8 * 2 ** geo.topBits;
    if (ttb % Math.min(topBytes, 2 ** 52) !== 0) return 'S2TTB is not aligned to the size of the top-level table';
    s2cfg = {
      geo,
      stage: 2,
      ttb,
      psBits: Math.min(psDecode(f('S2PS')), caps.oasBits),
      affd: f('S2AFFD') === 1,
      // {S2HA, S2HD} = 0b01 is reserved and behaves as 0b00 (SMMUv3 §5.2 STE.S2HA).
      ha: f('S2HA') === 1,
      hd: f('S2HD') === 1 && f('S2HA') === 1,
    };
  }
  const eatsWrong = abort || bypass ? null : illegalEats(base.eats, config, base.s2stall);
  if (eatsWrong) return eatsWrong;
  return { ...base, abort, bypass, s1, s2, s2cfg, s2tag: s2Tag(base.vmid) };
}
