import { addrField, type BitField, dwField, getAddr, getField, setField, toDwords } from '@ioasid/core';
import { setPointer } from './pointer.js';

/**
 * Context Descriptor: 64 bytes (8 doublewords), SMMUv3 §5.4. Positions as Linux
 * drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h (CTXDESC_CD_*) and QEMU hw/arm/smmuv3-internal.h (CD_*).
 * Dword 0 holds the TCR-like fields, dword 1 TTB0, dword 2 TTB1, dword 3 MAIR0, dword 4 MAIR1.
 */
export const CD_BYTES = 64;
export const CD_WORDS = 16;

export const CD = {
  T0SZ: dwField('T0SZ', 0, 5, 0),
  TG0: dwField('TG0', 0, 7, 6),
  IRGN0: dwField('IRGN0', 0, 9, 8),
  ORGN0: dwField('ORGN0', 0, 11, 10),
  SH0: dwField('SH0', 0, 13, 12),
  EPD0: dwField('EPD0', 0, 14),
  ENDI: dwField('ENDI', 0, 15),
  T1SZ: dwField('T1SZ', 0, 21, 16),
  TG1: dwField('TG1', 0, 23, 22),
  IRGN1: dwField('IRGN1', 0, 25, 24),
  ORGN1: dwField('ORGN1', 0, 27, 26),
  SH1: dwField('SH1', 0, 29, 28),
  EPD1: dwField('EPD1', 0, 30),
  V: dwField('V', 0, 31),
  IPS: dwField('IPS', 0, 34, 32),
  AFFD: dwField('AFFD', 0, 35),
  WXN: dwField('WXN', 0, 36),
  UWXN: dwField('UWXN', 0, 37),
  TBI0: dwField('TBI0', 0, 38),
  TBI1: dwField('TBI1', 0, 39),
  PAN: dwField('PAN', 0, 40),
  AA64: dwField('AA64', 0, 41),
  HD: dwField('HD', 0, 42),
  HA: dwField('HA', 0, 43),
  S: dwField('S', 0, 44),
  R: dwField('R', 0, 45),
  A: dwField('A', 0, 46),
  ASET: dwField('ASET', 0, 47),
  ASID: dwField('ASID', 0, 63, 48),
  HAD0: dwField('HAD0', 1, 1),
  HAD1: dwField('HAD1', 2, 1),
  MAIR0: dwField('MAIR0', 3, 31, 0),
  MAIR0_HI: dwField('MAIR0_HI', 3, 63, 32),
} as const satisfies Record<string, BitField>;

/** TTB0[51:4] in dword 1 (CTXDESC_CD_1_TTB0_MASK), TTB1[51:4] in dword 2. */
export const CD_ADDR = {
  TTB0: addrField(dwField('TTB0', 1, 51, 4)),
  TTB1: addrField(dwField('TTB1', 2, 51, 4)),
} as const;

export type CdFieldName = keyof typeof CD;
export type CdAddrName = keyof typeof CD_ADDR;
export type CdFields = { [K in CdFieldName]: number } & { [K in CdAddrName]: number };

/** TCR IRGN/ORGN "write-back write-allocate" (ARM_LPAE_TCR_RGN_WBWA). */
export const RGN_WBWA = 1;

export function encodeCd(values: Partial<CdFields>): Uint32Array {
  const w = new Uint32Array(CD_WORDS);
  writeCdFields(w, 0, values);
  return w;
}

export function writeCdFields(w: Uint32Array, base: number, values: Partial<CdFields>): void {
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) continue;
    if (k in CD_ADDR) setPointer(w, base, CD_ADDR[k as CdAddrName], v);
    else if (k in CD) setField(w, base, CD[k as CdFieldName], v);
    else throw new RangeError(`unknown CD field ${k}`);
  }
}

export function decodeCd(w: ArrayLike<number>, base = 0): CdFields {
  const out = {} as CdFields;
  for (const k of Object.keys(CD) as CdFieldName[]) out[k] = getField(w, base, CD[k]);
  for (const k of Object.keys(CD_ADDR) as CdAddrName[]) out[k] = getAddr(w, base, CD_ADDR[k]);
  return out;
}

/** MAIR0 as one 64-bit value (dword 3). */
export function cdMair(f: CdFields): bigint {
  return (BigInt(f.MAIR0_HI) << 32n) | BigInt(f.MAIR0);
}

export function mairFields(mair: bigint): Pick<CdFields, 'MAIR0' | 'MAIR0_HI'> {
  return { MAIR0: Number(mair & 0xffffffffn), MAIR0_HI: Number((mair >> 32n) & 0xffffffffn) };
}

export function cdDwords(w: ArrayLike<number>, base = 0): bigint[] {
  return toDwords(w, 8, base);
}
