/**
 * Bit fields of hardware structures and registers, defined once and read by both the driver side
 * and the hardware side.
 *
 * One representation: a field is `width` bits starting at absolute LSB-0 bit `lsb` of a structure
 * made of 64-bit little-endian doublewords (bit 140 is bit 12 of doubleword 2). In memory the
 * structure is held as 32-bit words, word 2k being bits 31:0 of doubleword k and word 2k+1 bits
 * 63:32. A field lies within one doubleword.
 *
 * Constructors follow each specification's numbering:
 * - `bitField(name, msb, lsb)`: absolute bits, as the VT-d specification numbers them;
 * - `dwField(name, dw, hi, lo)`: bits hi:lo of doubleword `dw`, as the SMMUv3 specification does;
 * - `ibmField(name, first, last)`: IBM MSB-0 bits of one 64-bit doubleword (bit 0 is the MSB), as
 *   POWER/skiboot PPC_BIT / PPC_BITMASK do.
 *
 * Accessors: numbers over 32-bit words (`getField` / `setField`, fields up to 52 bits, exact in a
 * double) for hot paths, and bigints (`getFieldBig` / `setFieldBig`) for register values and
 * whole structures held as doublewords. Everything an access needs is computed at construction.
 */
export interface BitField {
  readonly name: string;
  /** Lowest bit, absolute LSB-0 across the structure. */
  readonly lsb: number;
  readonly width: number;
  /** Doubleword holding the field (lsb >> 6). */
  readonly dw: number;
  /** Lowest bit within its doubleword (lsb & 63). */
  readonly lo: number;
  /** A pointer field: bits of a naturally aligned address held in place (see getAddr). */
  readonly addr: boolean;
  // ---- precomputed for the accessors (not enumerable) ----
  /** @internal 32-bit word holding the field's lowest bit (lsb >> 5). */ readonly wi: number;
  /** @internal Shift of the field's lowest bit in that word. */ readonly ws: number;
  /** @internal Mask of the field's bits in word wi, unshifted (all of it when the field lies in one word). */ readonly wm: number;
  /** @internal ~(wm << ws): the bits of word wi the field does not cover. */ readonly keep: number;
  /** @internal Mask of the field's bits in word wi+1 (0 when the field lies within one word). */ readonly hm: number;
  /** @internal 2^(32-ws): weight of word wi+1's bits in the value. */ readonly mul: number;
  /** @internal 2^width (the first value that does not fit). */ readonly lim: number;
  /** @internal 2^lo: an address field's byte address is its value times this. */ readonly unit: number;
  /** @internal Masks of the field's bits, in place, in the low and high word of its doubleword. */ readonly alo: number;
  /** @internal */ readonly ahi: number;
  /** @internal BigInt(lo): shift within the doubleword. */ readonly sh: bigint;
  /** @internal BigInt(lsb): shift within a whole-structure bigint. */ readonly bsh: bigint;
  /** @internal 2^width - 1 as a bigint. */ readonly mask: bigint;
}

const INTERNAL = ['wi', 'ws', 'wm', 'keep', 'hm', 'mul', 'lim', 'unit', 'alo', 'ahi', 'sh', 'bsh', 'mask'] as const;

/** Mask of the bits of [lo, lo+width) that fall in the 32-bit word starting at bit `base`, in place. */
function inPlace32(lo: number, width: number, base: number): number {
  const a = Math.max(lo, base) - base;
  const b = Math.min(lo + width, base + 32) - base;
  return b <= a ? 0 : (2 ** b - 2 ** a) >>> 0;
}

function make(name: string, lsb: number, width: number, addr: boolean): BitField {
  if (!Number.isInteger(lsb) || !Number.isInteger(width) || lsb < 0 || width < 1 || width > 64 || (lsb & 63) + width > 64) {
    throw new RangeError(`field ${name}: ${width} bits at ${lsb} must lie within one 64-bit doubleword`);
  }
  const ws = lsb & 31;
  const inOne = ws + width <= 32;
  const lowBits = inOne ? width : 32 - ws;
  const wm = lowBits === 32 ? 0xffffffff : 2 ** lowBits - 1;
  const highBits = inOne ? 0 : width - lowBits; // at most 32: the field stays in its doubleword
  const f: BitField = {
    name,
    lsb,
    width,
    dw: lsb >> 6,
    lo: lsb & 63,
    addr,
    wi: lsb >> 5,
    ws,
    wm,
    keep: ~(wm * 2 ** ws) >>> 0,
    hm: highBits === 32 ? 0xffffffff : 2 ** highBits - 1,
    mul: 2 ** (32 - ws),
    lim: 2 ** width,
    unit: 2 ** (lsb & 63),
    alo: inPlace32(lsb & 63, width, 0),
    ahi: inPlace32(lsb & 63, width, 32),
    sh: BigInt(lsb & 63),
    bsh: BigInt(lsb),
    mask: (1n << BigInt(width)) - 1n,
  };
  // Keep the precomputed parts out of enumeration (dumps, toEqual on field objects). Every field
  // goes through the same steps, so all share one hidden class and the accessors stay monomorphic.
  for (const k of INTERNAL) Object.defineProperty(f, k, { enumerable: false });
  return f;
}

/** Bits msb:lsb, absolute LSB-0 across the structure (VT-d numbering: bit 140 = qword 2 bit 12). */
export function bitField(name: string, msb: number, lsb: number = msb): BitField {
  return make(name, lsb, msb - lsb + 1, false);
}

/** Bits hi:lo of doubleword `dw` (SMMUv3 numbering: STE.S2TTB is 3[51:4]). */
export function dwField(name: string, dw: number, hi: number, lo: number = hi): BitField {
  if (hi > 63 || lo < 0) throw new RangeError(`field ${name}: bits ${hi}:${lo} are not bits of a doubleword`);
  return make(name, dw * 64 + lo, hi - lo + 1, false);
}

/**
 * IBM MSB-0 bits first..last of a 64-bit doubleword (skiboot PPC_BITMASK(first, last); bit 0 is
 * the most significant bit, so the field is LSB-0 bits 63-first : 63-last).
 */
export function ibmField(name: string, first: number, last: number = first): BitField {
  if (first < 0 || last > 63) throw new RangeError(`field ${name}: IBM bits ${first}..${last} are not bits of a doubleword`);
  return make(name, 63 - last, last - first + 1, false);
}

/** The same bits as `f`, as a pointer field: get/setAddr read and write the byte address. */
export function addrField(f: BitField): BitField {
  return make(f.name, f.lsb, f.width, true);
}

/** The field's bits in place within its own doubleword (skiboot's PPC_BITMASK value). */
export function fieldMaskBig(f: BitField): bigint {
  return f.mask << f.sh;
}

// ---- numbers over 32-bit words ---------------------------------------------------------------

/** 2^n for n in 0..64 (exact doubles): hot paths index this instead of computing `2 ** n` (a Math.pow call). */
export const POW2: readonly number[] = Array.from({ length: 65 }, (_, n) => 2 ** n);
/** 2^-n: multiplying by it divides exactly by 2^n, at a fraction of a division's latency. */
export const INV_POW2: readonly number[] = Array.from({ length: 65 }, (_, n) => 2 ** -n);

/** Reads field `f` (up to 52 bits) of the structure whose first 32-bit word is `w[base]`. */
export function getField(w: ArrayLike<number>, base: number, f: BitField): number {
  const i = base + f.wi;
  if (f.hm === 0) return ((w[i] >>> f.ws) & f.wm) >>> 0;
  // Straddles words i and i+1: bits ws..31 of the low word, then the low bits of the high one.
  return ((w[i + 1] & f.hm) >>> 0) * f.mul + (w[i] >>> f.ws);
}

/** Writes field `f` (up to 52 bits); a value that does not fit is an error of the caller. */
export function setField(w: Uint32Array | number[], base: number, f: BitField, value: number | boolean): void {
  const v = typeof value === 'number' ? value : value ? 1 : 0;
  if (!(v >= 0 && v < f.lim) || !Number.isInteger(v)) {
    throw new RangeError(`value ${v} does not fit field ${f.name} (${f.width} bits)`);
  }
  const i = base + f.wi;
  if (f.hm === 0) {
    w[i] = ((w[i] & f.keep) | (v << f.ws)) >>> 0;
    return;
  }
  w[i] = ((w[i] & f.keep) | ((v % f.mul) << f.ws)) >>> 0;
  w[i + 1] = ((w[i + 1] & ~f.hm) | Math.floor(v / f.mul)) >>> 0;
}

/** An address field (bits held in place) as the byte address: the field value times 2^lo. */
export function getAddr(w: ArrayLike<number>, base: number, f: BitField): number {
  return getField(w, base, f) * f.unit;
}

/** Writes an address field from a byte address aligned to 2^lo. */
export function setAddr(w: Uint32Array | number[], base: number, f: BitField, addr: number): void {
  const unit = f.unit;
  if (addr % unit !== 0) throw new RangeError(`${f.name}: address 0x${addr.toString(16)} is not aligned to ${unit}`);
  setField(w, base, f, addr / unit);
}

// ---- bigints: register values and structures held as doublewords ------------------------------

/**
 * Reads field `f` of a structure held as doublewords (`q[k]` is doubleword k) or of one bigint
 * value (a register, or a whole structure with doubleword k at bits 64k+63:64k).
 */
export function getFieldBig(q: readonly bigint[] | bigint, f: BitField): bigint {
  if (typeof q === 'bigint') return (q >> f.bsh) & f.mask;
  return (q[f.dw] >> f.sh) & f.mask;
}

function toBig(f: BitField, value: bigint | number | boolean): bigint {
  const v = typeof value === 'bigint' ? value : BigInt(typeof value === 'boolean' ? (value ? 1 : 0) : value);
  if (v < 0n || v > f.mask) throw new RangeError(`value 0x${v.toString(16)} does not fit field ${f.name} (${f.width} bits)`);
  return v;
}

/**
 * Writes field `f`: into doubleword array `q` in place (and returns it), or into a bigint value
 * (and returns the new value). A value that does not fit is an error of the caller.
 */
export function setFieldBig(q: bigint, f: BitField, value: bigint | number | boolean): bigint;
export function setFieldBig(q: bigint[], f: BitField, value: bigint | number | boolean): bigint[];
export function setFieldBig(q: bigint[] | bigint, f: BitField, value: bigint | number | boolean): bigint[] | bigint {
  const v = toBig(f, value);
  if (typeof q === 'bigint') return (q & ~(f.mask << f.bsh)) | (v << f.bsh);
  q[f.dw] = (q[f.dw] & ~(f.mask << f.sh)) | (v << f.sh);
  return q;
}

/** An address field (bits held in place) of doublewords or a bigint value, as the byte address. */
export function getAddrBig(q: readonly bigint[] | bigint, f: BitField): bigint {
  return getFieldBig(q, f) << f.sh;
}

export function setAddrBig(q: bigint, f: BitField, addr: bigint): bigint;
export function setAddrBig(q: bigint[], f: BitField, addr: bigint): bigint[];
export function setAddrBig(q: bigint[] | bigint, f: BitField, addr: bigint): bigint[] | bigint {
  if ((addr & ((1n << f.sh) - 1n)) !== 0n) throw new RangeError(`${f.name}: address 0x${addr.toString(16)} is not ${1n << f.sh}-byte aligned`);
  return setFieldBig(q as bigint[], f, addr >> f.sh);
}

/**
 * An address field read from 32-bit words as a bigint byte address, exact for any width (a
 * pointer of up to 64 bits): the field's bits of its doubleword, in place.
 */
export function getAddrWords(w: ArrayLike<number>, base: number, f: BitField): bigint {
  const i = base + 2 * f.dw;
  const l = (w[i] & f.alo) >>> 0;
  const h = (w[i + 1] & f.ahi) >>> 0;
  return h === 0 ? BigInt(l) : (BigInt(h) << 32n) | BigInt(l);
}

/** Writes an address field in 32-bit words from a bigint byte address (aligned, and it must fit). */
export function setAddrWords(w: Uint32Array | number[], base: number, f: BitField, addr: bigint): void {
  if ((addr & ((1n << f.sh) - 1n)) !== 0n) throw new RangeError(`${f.name}: address 0x${addr.toString(16)} is not ${1n << f.sh}-byte aligned`);
  if (addr < 0n || addr >> f.sh > f.mask) throw new RangeError(`value 0x${(addr >> f.sh).toString(16)} does not fit field ${f.name} (${f.width} bits)`);
  const i = base + 2 * f.dw;
  w[i] = ((w[i] & ~f.alo) | Number(addr & 0xffffffffn)) >>> 0;
  w[i + 1] = ((w[i + 1] & ~f.ahi) | Number((addr >> 32n) & 0xffffffffn)) >>> 0;
}

// ---- conversions ----------------------------------------------------------------------------

/** Doubleword `dw` of the structure at `w[base]` as a bigint (dumps, golden vectors). */
export function dword(w: ArrayLike<number>, base: number, dw: number): bigint {
  return (BigInt(w[base + dw * 2 + 1] >>> 0) << 32n) | BigInt(w[base + dw * 2] >>> 0);
}

export function toDwords(w: ArrayLike<number>, count: number, base = 0): bigint[] {
  const out: bigint[] = [];
  for (let d = 0; d < count; d++) out.push(dword(w, base, d));
  return out;
}

export function fromDwords(dws: readonly bigint[]): Uint32Array {
  const w = new Uint32Array(dws.length * 2);
  dws.forEach((d, i) => {
    w[i * 2] = Number(d & 0xffffffffn);
    w[i * 2 + 1] = Number((d >> 32n) & 0xffffffffn);
  });
  return w;
}
