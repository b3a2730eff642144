/**
 * Bit fields of little-endian structures made of 64-bit doublewords (STE, CD, queue entries),
 * held as 32-bit words: doubleword `dw` is words 2·dw (bits 31:0) and 2·dw+1 (bits 63:32).
 * Values are plain numbers; a field is at most 52 bits wide so it always fits a double exactly.
 */
export interface Field {
  readonly dw: number;
  /** Lowest bit inside the doubleword (0..63). */
  readonly lo: number;
  readonly width: number;
}

export function field(dw: number, hi: number, lo: number): Field {
  return { dw, lo, width: hi - lo + 1 };
}

export function bit(dw: number, b: number): Field {
  return { dw, lo: b, width: 1 };
}

/** 2^n for n in 0..64 (exact doubles): hot paths index this instead of computing `2 ** n` (a Math.pow call). */
export const POW2: readonly number[] = Array.from({ length: 65 }, (_, n) => 2 ** n);
/** 2^-n: multiplying by it divides exactly by 2^n, at a fraction of a division's latency. */
export const INV_POW2: readonly number[] = Array.from({ length: 65 }, (_, n) => 2 ** -n);

/** Reads field `f` from the structure whose first word is `w[base]`. */
export function getField(w: ArrayLike<number>, base: number, f: Field): number {
  const i = base + f.dw * 2;
  const lo = f.lo;
  const end = lo + f.width;
  if (end <= 32) return ((w[i] >>> lo) & (0xffffffff >>> (32 - f.width))) >>> 0;
  if (lo >= 32) return ((w[i + 1] >>> (lo - 32)) & (0xffffffff >>> (32 - f.width))) >>> 0;
  // The field straddles the two words: bits lo..31 of the low word, then bits 0..end-33 of the high.
  const low = w[i] >>> lo;
  const high = (w[i + 1] & (0xffffffff >>> (64 - end))) >>> 0;
  return high * POW2[32 - lo] + low;
}

function put32(x: number, lo: number, n: number, v: number): number {
  const mask = n >= 32 ? 0xffffffff : ((1 << n) - 1) << lo;
  return ((x & ~mask) | ((v << lo) & mask)) >>> 0;
}

/** Writes `value` into field `f` (bits above the field's width are an error of the caller). */
export function setField(w: Uint32Array | number[], base: number, f: Field, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0 || value >= POW2[f.width]) {
    throw new RangeError(`value ${value} does not fit a ${f.width}-bit field`);
  }
  const i = base + f.dw * 2;
  const end = f.lo + f.width;
  if (f.lo < 32) {
    const n = Math.min(end, 32) - f.lo;
    w[i] = put32(w[i], f.lo, n, value % POW2[n]);
  }
  if (end > 32) {
    const s = Math.max(f.lo, 32);
    w[i + 1] = put32(w[i + 1], s - 32, end - s, Math.floor(value / POW2[s - f.lo]));
  }
}

/** An address field holding bits [hi:lo] of a byte address in place (e.g. S1ContextPtr[51:6]). */
export interface AddrField {
  readonly f: Field;
}

export function addrField(dw: number, hi: number, lo: number): AddrField {
  return { f: field(dw, hi, lo) };
}

export function getAddr(w: ArrayLike<number>, base: number, a: AddrField): number {
  return getField(w, base, a.f) * 2 ** a.f.lo;
}

export function setAddr(w: Uint32Array | number[], base: number, a: AddrField, addr: number): void {
  const unit = 2 ** a.f.lo;
  if (addr % unit !== 0) throw new RangeError(`address 0x${addr.toString(16)} is not aligned to ${unit}`);
  setField(w, base, a.f, addr / unit);
}

/** The 64-bit doubleword `dw` as a bigint (for dumps and golden vectors). */
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
