import { fail } from '@ioasid/core';

/**
 * Levels, start level and top-table size of a VMSAv8-64 translation regime (Arm ARM D8.2),
 * for the three granules. Stage 2 may start one level lower with up to 16 concatenated
 * top tables; the table builder follows Linux io-pgtable-arm (concatenate when the walk
 * would otherwise start at level 0 with at most 16 entries there).
 */
export type Granule = 4096 | 16384 | 65536;
export const GRANULES: readonly Granule[] = [4096, 16384, 65536];

export function granuleShift(g: Granule): number {
  return g === 4096 ? 12 : g === 16384 ? 14 : 16;
}

/** Index bits resolved per level: granule shift − 3 (8-byte descriptors). */
export function granuleStride(g: Granule): number {
  return granuleShift(g) - 3;
}

/** TG0 (CD) / S2TG (STE, VTCR) encoding: 0b00 4K, 0b01 64K, 0b10 16K. */
export const TG_4K = 0;
export const TG_64K = 1;
export const TG_16K = 2;

export function tgEncode(g: Granule): number {
  return g === 4096 ? TG_4K : g === 65536 ? TG_64K : TG_16K;
}

export function tgDecode(tg: number): Granule | null {
  return tg === TG_4K ? 4096 : tg === TG_64K ? 65536 : tg === TG_16K ? 16384 : null;
}

/** Input sizes a table may translate: T0SZ 16..39 (Arm ARM; QEMU smmuv3 decode_cd checks the same). */
export const MIN_IAS = 25;
export const MAX_IAS = 48;

/**
 * Block (non-page) leaves a 48-bit-OA implementation allows, by LPAE level: 4K granule 1 GiB at
 * level 1 and 2 MiB at level 2; 16K 32 MiB at level 2; 64K 512 MiB at level 2.
 */
export function blockAllowed(g: Granule, lpaeLevel: number): boolean {
  if (g === 4096) return lpaeLevel === 1 || lpaeLevel === 2;
  return lpaeLevel === 2;
}

export interface LpaeGeometry {
  readonly granule: Granule;
  readonly gshift: number;
  readonly stride: number;
  /** Input address bits (64 − T0SZ). */
  readonly ias: number;
  /** LPAE level (0..3) of the top table. */
  readonly startLevel: number;
  /** Number of table levels walked. */
  readonly levels: number;
  /** Index bits of the top table (more than `stride` when top tables are concatenated). */
  readonly topBits: number;
  /** Precomputed for walkers, by LPAE level 0..3: the span of one entry (2^levelShift) … */
  readonly spans: readonly number[];
  /** … the index bits of a table at that level … */
  readonly bits: readonly number[];
  /** … and its number of entries (2^bits) … */
  readonly entries: readonly number[];
  /** … and their reciprocals (exact powers of two: a walker multiplies instead of dividing). */
  readonly invSpans: readonly number[];
  readonly invEntries: readonly number[];
  /** 2^ias: the first input address outside the table. */
  readonly inputLimit: number;
  /** Descriptor bits 31:granule (the low word's share of an output address). */
  readonly addrLoMask: number;
}

function make(granule: Granule, ias: number, startLevel: number): LpaeGeometry {
  const gshift = granuleShift(granule);
  const stride = granuleStride(granule);
  const topBits = ias - gshift - stride * (3 - startLevel);
  const spans: number[] = [];
  const bits: number[] = [];
  for (let l = 0; l <= 3; l++) {
    spans.push(2 ** (gshift + stride * (3 - l)));
    bits.push(l === startLevel ? topBits : stride);
  }
  const entries = bits.map((b) => 2 ** b);
  const addrLoMask = (0xffffffff - (granule - 1)) >>> 0;
  const invSpans = spans.map((x) => 1 / x);
  const invEntries = entries.map((x) => 1 / x);
  return { granule, gshift, stride, ias, startLevel, levels: 4 - startLevel, topBits, spans, bits, entries, invSpans, invEntries, inputLimit: 2 ** ias, addrLoMask };
}

/** The smallest walk that covers `ias` bits: stage 1 geometry. */
export function stage1Geometry(granule: Granule, ias: number): LpaeGeometry {
  const stride = granuleStride(granule);
  const levels = Math.ceil((ias - granuleShift(granule)) / stride);
  return make(granule, ias, 4 - levels);
}

/** Stage 2 as Linux builds it: concatenate into level 1 when level 0 would hold ≤ 16 entries. */
export function stage2Geometry(granule: Granule, ias: number): LpaeGeometry {
  const g = stage1Geometry(granule, ias);
  if (g.startLevel === 0 && g.topBits <= 4) return make(granule, ias, 1);
  return g;
}

/** A walk's top table is valid when it has 1..(16 × a full table) entries (Arm ARM D8.2.2). */
export function geometryValid(g: LpaeGeometry, stage: 1 | 2): boolean {
  if (g.ias < MIN_IAS || g.ias > MAX_IAS) return false;
  if (g.topBits < 1) return false;
  return g.topBits <= g.stride + (stage === 2 ? 4 : 0);
}

/** VTCR.SL0 of a stage 2 start level: 4K: 2→L0, 1→L1, 0→L2; 16K/64K: 2→L1, 1→L2, 0→L3. */
export function sl0Encode(granule: Granule, startLevel: number): number {
  return granule === 4096 ? 2 - startLevel : 3 - startLevel;
}

export function sl0Decode(granule: Granule, sl0: number): number | null {
  if (sl0 === 3) return null;
  return granule === 4096 ? 2 - sl0 : 3 - sl0;
}

/** Stage 2 geometry from STE S2T0SZ/S2SL0/S2TG, or null when the combination is invalid. */
export function stage2FromVtcr(granule: Granule, t0sz: number, sl0: number): LpaeGeometry | null {
  const start = sl0Decode(granule, sl0);
  if (start === null || start < 0) return null;
  const g = make(granule, 64 - t0sz, start);
  return geometryValid(g, 2) ? g : null;
}

/** Stage 1 geometry from CD T0SZ/TG0, or null when out of range. */
export function stage1FromTcr(granule: Granule, t0sz: number): LpaeGeometry | null {
  const ias = 64 - t0sz;
  if (ias < MIN_IAS || ias > MAX_IAS) return null;
  return stage1Geometry(granule, ias);
}

/** log2 of the span of one entry at LPAE level `lpaeLevel`. */
export function levelShift(g: LpaeGeometry, lpaeLevel: number): number {
  return g.gshift + g.stride * (3 - lpaeLevel);
}

/** Index bits at LPAE level `lpaeLevel`. */
export function levelBits(g: LpaeGeometry, lpaeLevel: number): number {
  return g.bits[lpaeLevel];
}

/** IPS / PS / OAS encoding to address bits (SMMU_IDR5.OAS, CD.IPS, STE.S2PS; Linux ARM_LPAE_TCR_PS_*). */
export const PS_BITS = [32, 36, 40, 42, 44, 48, 52] as const;

export function psDecode(ps: number): number {
  return PS_BITS[Math.min(ps, PS_BITS.length - 1)];
}

export function psEncode(bits: number): number {
  const i = PS_BITS.indexOf(bits as (typeof PS_BITS)[number]);
  if (i < 0) fail('EINVAL', `${String(bits)} bits is not an architectural address size (${PS_BITS.join(', ')})`);
  return i;
}
