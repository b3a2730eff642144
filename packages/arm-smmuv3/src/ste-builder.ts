import { psEncode, sl0Encode, tgEncode, type LpaeGeometry } from './formats/lpae-geometry.js';
import {
  CACHE_WBRA,
  EATS_TRANS,
  SHCFG_INCOMING,
  SH_ISH,
  STE_CONFIG_ABORT,
  STE_CONFIG_NESTED,
  STE_CONFIG_S1,
  STE_CONFIG_S2,
  encodeSte,
  type SteFields,
} from './tables/ste.js';
import { RGN_WBWA } from './tables/cd.js';

/** A stage 2 table as the STE points at it. */
export interface S2Table {
  vmid: number;
  geometry: LpaeGeometry;
  ttb: number;
  oasBits: number;
  /** Hardware access flag and dirty state updates at stage 2 (STE.S2HA, S2HD): dirty logging on. */
  hd?: boolean;
}

/** STE that aborts every transaction (Linux arm_smmu_make_abort_ste). */
export function abortSte(): Uint32Array {
  return encodeSte({ V: 1, Config: STE_CONFIG_ABORT });
}

function s2Fields(s2: S2Table): Partial<SteFields> {
  const g = s2.geometry;
  return {
    S2VMID: s2.vmid,
    S2T0SZ: 64 - g.ias,
    S2SL0: sl0Encode(g.granule, g.startLevel),
    S2IR0: RGN_WBWA,
    S2OR0: RGN_WBWA,
    S2SH0: SH_ISH,
    S2TG: tgEncode(g.granule),
    S2PS: psEncode(s2.oasBits),
    S2AA64: 1,
    S2PTW: 1,
    S2R: 1,
    S2TTB: s2.ttb,
    ...(s2.hd === true ? { S2HA: 1, S2HD: 1 } : {}),
  };
}

/** Stage-2-only STE (Linux arm_smmu_make_s2_domain_ste). */
export function s2Ste(s2: S2Table, ats: boolean): Uint32Array {
  return encodeSte({
    V: 1,
    Config: STE_CONFIG_S2,
    EATS: ats ? EATS_TRANS : 0,
    SHCFG: SHCFG_INCOMING,
    ...s2Fields(s2),
  });
}

/** What stage 1 of a nested STE points at: a CD table by IPA (Linux arm_smmu_make_cdtable_ste + S2). */
export interface S1Context {
  ctxPtr: number;
  s1fmt: number;
  s1cdmax: number;
  s1dss: number;
  /** S1STALLD: the device cannot stall (PCIe functions use PRI instead). */
  stallDisabled: boolean;
}

/**
 * Stage 1 only STE with a kernel CD table in host memory (Linux arm_smmu_make_cdtable_ste):
 * kernel-managed address spaces attached per SubstreamID. S2VMID stays 0, the VMID Linux
 * tags stage 1 TLB entries with.
 */
export function s1Ste(s1: S1Context, ats: boolean): Uint32Array {
  return encodeSte({
    V: 1,
    Config: STE_CONFIG_S1,
    S1Fmt: s1.s1fmt,
    S1ContextPtr: s1.ctxPtr,
    S1CDMax: s1.s1cdmax,
    S1DSS: s1.s1dss,
    S1CIR: CACHE_WBRA,
    S1COR: CACHE_WBRA,
    S1CSH: SH_ISH,
    S1STALLD: s1.stallDisabled ? 1 : 0,
    EATS: ats ? EATS_TRANS : 0,
  });
}

/** Nested STE: stage 1 from a CD table at an IPA, stage 2 from the parent (Config 0b111). */
export function nestedSte(s1: S1Context, s2: S2Table, ats: boolean): Uint32Array {
  return encodeSte({
    V: 1,
    Config: STE_CONFIG_NESTED,
    S1Fmt: s1.s1fmt,
    S1ContextPtr: s1.ctxPtr,
    S1CDMax: s1.s1cdmax,
    S1DSS: s1.s1dss,
    S1CIR: CACHE_WBRA,
    S1COR: CACHE_WBRA,
    S1CSH: SH_ISH,
    S1STALLD: s1.stallDisabled ? 1 : 0,
    EATS: ats ? EATS_TRANS : 0,
    SHCFG: SHCFG_INCOMING,
    ...s2Fields(s2),
  });
}
