import { type BitField, dwField, getField, setField } from '@ioasid/core';

/**
 * PRI queue entries (PCIe page requests): 16 bytes, SMMUv3 §8. Positions as Linux
 * drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h (PRIQ_0_*, PRIQ_1_*).
 */
export const PRIQ_BYTES = 16;
export const PRIQ_WORDS = 4;

export const PRIQ = {
  SID: dwField('SID', 0, 31, 0),
  SSID: dwField('SSID', 0, 51, 32),
  PERM_PRIV: dwField('PERM_PRIV', 0, 58),
  PERM_EXEC: dwField('PERM_EXEC', 0, 59),
  PERM_READ: dwField('PERM_READ', 0, 60),
  PERM_WRITE: dwField('PERM_WRITE', 0, 61),
  PRG_LAST: dwField('PRG_LAST', 0, 62),
  SSID_V: dwField('SSID_V', 0, 63),
  PRG_IDX: dwField('PRG_IDX', 1, 8, 0),
  /** Page address bits 63:12 (stored in place). */
  ADDR: dwField('ADDR', 1, 63, 12),
} as const satisfies Record<string, BitField>;
export type PriqFieldName = keyof typeof PRIQ;

export function encodePriq(values: Partial<Record<PriqFieldName, number>>): Uint32Array {
  const w = new Uint32Array(PRIQ_WORDS);
  for (const [k, v] of Object.entries(values)) if (v !== undefined) setField(w, 0, PRIQ[k as PriqFieldName], v);
  return w;
}

export function decodePriq(w: ArrayLike<number>, base = 0): Record<PriqFieldName, number> {
  const out = {} as Record<PriqFieldName, number>;
  for (const k of Object.keys(PRIQ) as PriqFieldName[]) out[k] = getField(w, base, PRIQ[k]);
  return out;
}
