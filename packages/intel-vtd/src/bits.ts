import { getAddrBig, getFieldBig, type BitField } from '@ioasid/core';

/**
 * VT-d helpers over core bit fields (@ioasid/core hw/bitfield.ts): the fields themselves are
 * defined in the table and register files with `bitField(name, msb, lsb)`, at absolute bit
 * positions as the VT-d specification numbers them.
 */

/** Whether `f` lies within one 32-bit word (descriptor fields are read with one shift and mask). */
export function inOneWord(f: BitField): boolean {
  return (f.lsb & 31) + f.width <= 32;
}

/** Every field decoded (numbers for narrow fields, bigints for wide ones, booleans for single bits). */
export function decodeFields(q: readonly bigint[], fields: readonly BitField[]): Record<string, bigint | number | boolean> {
  const out: Record<string, bigint | number | boolean> = {};
  for (const f of fields) {
    const v = f.addr ? getAddrBig(q, f) : getFieldBig(q, f);
    out[f.name] = f.addr ? v : f.width === 1 ? v === 1n : f.width <= 32 ? Number(v) : v;
  }
  return out;
}

/** A mask of bits [msb:lsb] within one 64-bit value (reserved-bit masks; 0 when msb < lsb). */
export function bitRange(msb: number, lsb: number): bigint {
  if (msb < lsb) return 0n;
  return ((1n << BigInt(msb - lsb + 1)) - 1n) << BigInt(lsb);
}

export const MASK64 = (1n << 64n) - 1n;
