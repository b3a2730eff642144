import { addrField, type BitField, dwField, getAddr, getField, setField, toDwords } from '@ioasid/core';
import { setPointer } from './pointer.js';

/**
 * Stream Table Entry: 64 bytes (8 doublewords), SMMUv3 §5.2. Positions as Linux
 * drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h (STRTAB_STE_*) and QEMU hw/arm/smmuv3-internal.h (STE_*).
 */
export const STE_BYTES = 64;
export const STE_WORDS = 16;

export const STE = {
  V: dwField('V', 0, 0),
  Config: dwField('Config', 0, 3, 1),
  S1Fmt: dwField('S1Fmt', 0, 5, 4),
  S1CDMax: dwField('S1CDMax', 0, 63, 59),
  S1DSS: dwField('S1DSS', 1, 1, 0),
  S1CIR: dwField('S1CIR', 1, 3, 2),
  S1COR: dwField('S1COR', 1, 5, 4),
  S1CSH: dwField('S1CSH', 1, 7, 6),
  S1STALLD: dwField('S1STALLD', 1, 27),
  EATS: dwField('EATS', 1, 29, 28),
  STRW: dwField('STRW', 1, 31, 30),
  SHCFG: dwField('SHCFG', 1, 45, 44),
  S2VMID: dwField('S2VMID', 2, 15, 0),
  S2T0SZ: dwField('S2T0SZ', 2, 37, 32),
  S2SL0: dwField('S2SL0', 2, 39, 38),
  S2IR0: dwField('S2IR0', 2, 41, 40),
  S2OR0: dwField('S2OR0', 2, 43, 42),
  S2SH0: dwField('S2SH0', 2, 45, 44),
  S2TG: dwField('S2TG', 2, 47, 46),
  S2PS: dwField('S2PS', 2, 50, 48),
  S2AA64: dwField('S2AA64', 2, 51),
  S2ENDI: dwField('S2ENDI', 2, 52),
  S2AFFD: dwField('S2AFFD', 2, 53),
  S2PTW: dwField('S2PTW', 2, 54),
  S2HD: dwField('S2HD', 2, 55),
  S2HA: dwField('S2HA', 2, 56),
  S2S: dwField('S2S', 2, 57),
  S2R: dwField('S2R', 2, 58),
} as const satisfies Record<string, BitField>;

/** Address fields: S1ContextPtr[51:6] (dword 0), S2TTB[51:4] (dword 3). */
export const STE_ADDR = {
  S1ContextPtr: addrField(dwField('S1ContextPtr', 0, 51, 6)),
  S2TTB: addrField(dwField('S2TTB', 3, 51, 4)),
} as const;

export type SteFieldName = keyof typeof STE;
export type SteAddrName = keyof typeof STE_ADDR;
export type SteFields = { [K in SteFieldName]: number } & { [K in SteAddrName]: number };

/** STE.Config (STRTAB_STE_0_CFG_*): 0b000 abort, 0b100 bypass, 0b101 S1, 0b110 S2, 0b111 S1+S2. */
export const STE_CONFIG_ABORT = 0b000;
export const STE_CONFIG_BYPASS = 0b100;
export const STE_CONFIG_S1 = 0b101;
export const STE_CONFIG_S2 = 0b110;
export const STE_CONFIG_NESTED = 0b111;

/** STE.S1Fmt: 0 linear CD table, 1 two-level with 4KB (64-CD) leaves, 2 two-level with 64KB (1024-CD) leaves. */
export const S1FMT_LINEAR = 0;
export const S1FMT_4K_L2 = 1;
export const S1FMT_64K_L2 = 2;

/** STE.S1DSS: behaviour of transactions without a SubstreamID when S1CDMax > 0. */
export const S1DSS_TERMINATE = 0;
export const S1DSS_BYPASS = 1;
export const S1DSS_SSID0 = 2;

/**
 * STE.EATS (SMMUv3 §5.2): 0 ATS disabled, 1 full ATS (Linux STRTAB_STE_1_EATS_TRANS),
 * 2 split-stage ATS (the endpoint caches IPAs, stage 2 translates its Translated traffic),
 * 3 full ATS with DPT checks (needs SMMU_IDR3.DPT; otherwise it behaves as 0).
 */
export const EATS_ABT = 0;
export const EATS_TRANS = 1;
export const EATS_SPLIT = 2;
export const EATS_DPT = 3;

/** Cacheability/shareability encodings Linux uses in STE/CD (STRTAB_STE_1_S1C_CACHE_WBRA, ARM_SMMU_SH_ISH). */
export const CACHE_WBRA = 1;
export const SH_ISH = 3;
/** STE.SHCFG "use incoming" (STRTAB_STE_1_SHCFG_INCOMING). */
export const SHCFG_INCOMING = 1;

/** Builds an STE from named field values (absent fields are 0); a pointer it cannot hold → ERANGE. */
export function encodeSte(values: Partial<SteFields>): Uint32Array {
  const w = new Uint32Array(STE_WORDS);
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) continue;
    if (k in STE_ADDR) setPointer(w, 0, STE_ADDR[k as SteAddrName], v);
    else if (k in STE) setField(w, 0, STE[k as SteFieldName], v);
    else throw new RangeError(`unknown STE field ${k}`);
  }
  return w;
}

/** Decodes every STE field from the 16 words at `w[base]`. */
export function decodeSte(w: ArrayLike<number>, base = 0): SteFields {
  const out = {} as SteFields;
  for (const k of Object.keys(STE) as SteFieldName[]) out[k] = getField(w, base, STE[k]);
  for (const k of Object.keys(STE_ADDR) as SteAddrName[]) out[k] = getAddr(w, base, STE_ADDR[k]);
  return out;
}

export function steDwords(w: ArrayLike<number>, base = 0): bigint[] {
  return toDwords(w, 8, base);
}
