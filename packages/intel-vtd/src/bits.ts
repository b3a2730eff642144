/**
 * Named bit fields of multi-qword hardware structures (root/context/PASID entries, descriptors,
 * registers). Positions are absolute bit numbers across the structure, as the VT-d specification
 * numbers them (bit 140 of a PASID entry is bit 12 of its third qword).
 */
export interface BitField {
  readonly name: string;
  /** Lowest bit (absolute). */
  readonly lsb: number;
  readonly width: number;
  /** A pointer field holding address bits in place: decoded as the byte address. */
  readonly addr?: boolean;
}

export function field(name: string, msb: number, lsb: number = msb): BitField {
  if (msb < lsb || (msb >> 6) !== (lsb >> 6)) throw new Error(`field ${name}: bits ${msb}:${lsb} must lie in one qword`);
  return { name, lsb, width: msb - lsb + 1 };
}

/** A pointer field: bits [msb:lsb] of a naturally aligned address, kept in place. */
export function addrField(name: string, msb: number, lsb: number): BitField {
  return { ...field(name, msb, lsb), addr: true };
}

/** The field's mask inside its own qword. */
export function qwordMask(f: BitField): bigint {
  return ((1n << BigInt(f.width)) - 1n) << BigInt(f.lsb & 63);
}

export function getField(q: readonly bigint[], f: BitField): bigint {
  return (q[f.lsb >> 6] >> BigInt(f.lsb & 63)) & ((1n << BigInt(f.width)) - 1n);
}

/** Sets a field; the value must fit (a programming error otherwise). */
export function setField(q: bigint[], f: BitField, value: bigint | number | boolean): void {
  const v = typeof value === 'bigint' ? value : BigInt(typeof value === 'boolean' ? (value ? 1 : 0) : value);
  if (v < 0n || v >> BigInt(f.width) !== 0n) throw new Error(`value 0x${v.toString(16)} does not fit field ${f.name} (${f.width} bits)`);
  const i = f.lsb >> 6;
  q[i] = (q[i] & ~qwordMask(f)) | (v << BigInt(f.lsb & 63));
}

/**
 * An address field holding bits [msb:12] of a 4 KiB-aligned address in place (a pointer such as
 * SLPTPTR): get/set work on the byte address, not on the shifted value.
 */
export function getAddr(q: readonly bigint[], f: BitField): bigint {
  return getField(q, f) << BigInt(f.lsb & 63);
}

export function setAddr(q: bigint[], f: BitField, addr: bigint): void {
  const shift = BigInt(f.lsb & 63);
  if ((addr & ((1n << shift) - 1n)) !== 0n) throw new Error(`${f.name}: address 0x${addr.toString(16)} is not ${1n << shift}-byte aligned`);
  setField(q, f, addr >> shift);
}

/** Every field decoded (numbers for narrow fields, bigints for wide ones, booleans for single bits). */
export function decodeFields(q: readonly bigint[], fields: readonly BitField[]): Record<string, bigint | number | boolean> {
  const out: Record<string, bigint | number | boolean> = {};
  for (const f of fields) {
    const v = f.addr ? getAddr(q, f) : getField(q, f);
    out[f.name] = f.addr ? v : f.width === 1 ? v === 1n : f.width <= 32 ? Number(v) : v;
  }
  return out;
}

/** A mask of bits [msb:lsb] within one 64-bit value. */
export function bitRange(msb: number, lsb: number): bigint {
  if (msb < lsb) return 0n;
  return ((1n << BigInt(msb - lsb + 1)) - 1n) << BigInt(lsb);
}

export const MASK64 = (1n << 64n) - 1n;
