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
  // Precomputed once (decoding runs on hardware paths): qword index, shift and mask as bigints,
  // and, for the 32-bit word view, the word index, shift and in-word mask.
  /** @internal */ readonly qi: number;
  /** @internal */ readonly sh: bigint;
  /** @internal */ readonly mask: bigint;
  /** @internal */ readonly wi: number;
  /** @internal */ readonly ws: number;
  /** @internal In-word mask (unshifted) of a field within one word. */
  readonly wm: number;
  /** @internal Masks of the field's bits in the low and high word of its qword. */
  readonly loM: number;
  /** @internal */ readonly hiM: number;
}

/** Mask of bits [msb:lsb] (of a qword) that fall in the 32-bit word starting at bit `base`. */
function rangeMask32(msb: number, lsb: number, base: number): number {
  const lo = Math.max(lsb, base) - base;
  const hi = Math.min(msb, base + 31) - base;
  if (hi < lo) return 0;
  return (2 ** (hi + 1) - 2 ** lo) >>> 0;
}

function make(name: string, msb: number, lsb: number, addr: boolean): BitField {
  if (msb < lsb || (msb >> 6) !== (lsb >> 6)) throw new Error(`field ${name}: bits ${msb}:${lsb} must lie in one qword`);
  const width = msb - lsb + 1;
  const f: BitField = {
    name,
    lsb,
    width,
    qi: lsb >> 6,
    sh: BigInt(lsb & 63),
    mask: (1n << BigInt(width)) - 1n,
    wi: lsb >> 5,
    ws: lsb & 31,
    wm: width >= 32 ? 0xffffffff : 2 ** width - 1,
    loM: rangeMask32(msb & 63, lsb & 63, 0),
    hiM: rangeMask32(msb & 63, lsb & 63, 32),
  };
  if (addr) (f as { addr?: boolean }).addr = true;
  // Keep the precomputed parts out of enumeration (dumps, toEqual on field objects).
  for (const k of ['qi', 'sh', 'mask', 'wi', 'ws', 'wm', 'loM', 'hiM']) Object.defineProperty(f, k, { enumerable: false });
  return f;
}

export function field(name: string, msb: number, lsb: number = msb): BitField {
  return make(name, msb, lsb, false);
}

/** A pointer field: bits [msb:lsb] of a naturally aligned address, kept in place. */
export function addrField(name: string, msb: number, lsb: number): BitField {
  return make(name, msb, lsb, true);
}

/** The field's mask inside its own qword. */
export function qwordMask(f: BitField): bigint {
  return f.mask << f.sh;
}

export function getField(q: readonly bigint[], f: BitField): bigint {
  return (q[f.qi] >> f.sh) & f.mask;
}

/** Sets a field; the value must fit (a programming error otherwise). */
export function setField(q: bigint[], f: BitField, value: bigint | number | boolean): void {
  const v = typeof value === 'bigint' ? value : BigInt(typeof value === 'boolean' ? (value ? 1 : 0) : value);
  if (v < 0n || v > f.mask) throw new Error(`value 0x${v.toString(16)} does not fit field ${f.name} (${f.width} bits)`);
  const i = f.qi;
  q[i] = (q[i] & ~(f.mask << f.sh)) | (v << f.sh);
}

/**
 * An address field holding bits [msb:12] of a 4 KiB-aligned address in place (a pointer such as
 * SLPTPTR): get/set work on the byte address, not on the shifted value.
 */
export function getAddr(q: readonly bigint[], f: BitField): bigint {
  return getField(q, f) << f.sh;
}

export function setAddr(q: bigint[], f: BitField, addr: bigint): void {
  const shift = f.sh;
  if ((addr & ((1n << shift) - 1n)) !== 0n) throw new Error(`${f.name}: address 0x${addr.toString(16)} is not ${1n << shift}-byte aligned`);
  setField(q, f, addr >> shift);
}

// ---- the same fields on 32-bit words (two per qword, little-endian as in memory) ------------------
// Hot paths (the invalidation queue, structure fetches) work on words as numbers; a field of up to
// 32 bits that lies within one word is read with one shift and mask, no bigint.

/** Whether `f` can be read as a number from one 32-bit word. */
export function inOneWord(f: BitField): boolean {
  return f.ws + f.width <= 32;
}

/** A field of at most 32 bits that lies within one 32-bit word, as a number. */
export function getWordField(w: ArrayLike<number>, f: BitField): number {
  return ((w[f.wi] >>> f.ws) & f.wm) >>> 0;
}

/** Sets a field of at most 32 bits that lies within one 32-bit word (the value must fit). */
export function setWordField(w: Uint32Array | number[], f: BitField, value: number | boolean): void {
  const v = typeof value === 'boolean' ? (value ? 1 : 0) : value;
  if (!inOneWord(f)) throw new Error(`field ${f.name} does not lie within one 32-bit word`);
  if (!Number.isInteger(v) || v < 0 || v > f.wm) throw new Error(`value 0x${v.toString(16)} does not fit field ${f.name} (${f.width} bits)`);
  const m = (f.wm << f.ws) >>> 0;
  w[f.wi] = ((w[f.wi] & ~m) | (v << f.ws)) >>> 0;
}

/** An address field (bits in place within its qword) read from words, as a bigint byte address. */
export function getWordAddr(w: ArrayLike<number>, f: BitField): bigint {
  const l = (w[2 * f.qi] & f.loM) >>> 0;
  const h = (w[2 * f.qi + 1] & f.hiM) >>> 0;
  return h === 0 ? BigInt(l) : (BigInt(h) << 32n) | BigInt(l);
}

/** Sets an address field (bits in place) in words; the address must be aligned and fit. */
export function setWordAddr(w: Uint32Array | number[], f: BitField, addr: bigint): void {
  if ((addr & ((1n << f.sh) - 1n)) !== 0n) throw new Error(`${f.name}: address 0x${addr.toString(16)} is not ${1n << f.sh}-byte aligned`);
  if (addr < 0n || addr >> f.sh > f.mask) throw new Error(`value 0x${(addr >> f.sh).toString(16)} does not fit field ${f.name} (${f.width} bits)`);
  const lo = Number(addr & 0xffffffffn);
  const hi = Number(addr >> 32n);
  const i = 2 * f.qi;
  w[i] = ((w[i] & ~f.loM) | lo) >>> 0;
  w[i + 1] = ((w[i + 1] & ~f.hiM) | hi) >>> 0;
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
