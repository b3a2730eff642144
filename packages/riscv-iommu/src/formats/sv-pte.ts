import { bitField } from '@ioasid/core';

/**
 * The Sv page-table entry (RISC-V privileged spec §4.3–4.5, used unchanged by the IOMMU for the
 * first stage and, as Svx4, for the G-stage): one little-endian doubleword.
 */
export const PTE = {
  V: bitField('V', 0),
  R: bitField('R', 1),
  W: bitField('W', 2),
  X: bitField('X', 3),
  U: bitField('U', 4),
  G: bitField('G', 5),
  A: bitField('A', 6),
  D: bitField('D', 7),
  RSW: bitField('RSW', 9, 8),
  PPN: bitField('PPN', 53, 10),
  PBMT: bitField('PBMT', 62, 61),
  N: bitField('N', 63),
} as const;

/** Low-word masks of the flag bits. */
export const PTE_V = 1 << 0;
export const PTE_R = 1 << 1;
export const PTE_W = 1 << 2;
export const PTE_X = 1 << 3;
export const PTE_U = 1 << 4;
export const PTE_G = 1 << 5;
export const PTE_A = 1 << 6;
export const PTE_D = 1 << 7;
/** High-word masks: PPN[43:22] in bits 21:0, reserved 60:54 in 28:22, PBMT 62:61 in 30:29, N in 31. */
export const PTE_PPN_HI = 0x003fffff;
export const PTE_RSVD_HI = 0x1fc00000;
export const PTE_PBMT_HI = 0x60000000;
export const PTE_N_HI = 0x80000000;
/** Output address bits an entry holds: a 44-bit PPN of 4 KiB pages. */
export const SV_OUTPUT_BITS = 56;

/** Frame number (PPN) held by an entry's two words. */
export function ptePpn(lo: number, hi: number): number {
  return (hi & PTE_PPN_HI) * 0x400000 + (lo >>> 10);
}

/** PPN bits 21:0 in the low word (`& 0x3fffff` is exact for any safe integer: ToInt32 keeps the low bits). */
export function ppnLo(frame: number): number {
  return ((frame & 0x3fffff) << 10) >>> 0;
}

/** PPN bits 43:22 in the high word (the subtraction leaves a multiple of 2^22, scaled exactly by a power of two). */
export function ppnHi(frame: number): number {
  return (frame - (frame & 0x3fffff)) * INV_2_22;
}
const INV_2_22 = 1 / 0x400000;

/** An entry is a leaf when any of R, W, X is set (a pointer has all three clear). */
export function pteIsLeaf(lo: number): boolean {
  return (lo & (PTE_R | PTE_W | PTE_X)) !== 0;
}

/**
 * Whether a valid entry is one the walk must fault on for its own bits (privileged spec §4.3.2
 * steps 3 and 5): W without R, a reserved bit, PBMT or N without Svpbmt / Svnapot, or D, A or U
 * set in a pointer (reserved for non-leaf entries).
 */
export function pteMalformed(lo: number, hi: number): boolean {
  if ((hi & (PTE_RSVD_HI | PTE_PBMT_HI | PTE_N_HI)) !== 0) return true;
  if ((lo & (PTE_W | PTE_R)) === PTE_W) return true;
  if (!pteIsLeaf(lo) && (lo & (PTE_D | PTE_A | PTE_U)) !== 0) return true;
  return false;
}

export function encodePte(frame: number, flags: number): bigint {
  return (BigInt(frame) << 10n) | BigInt(flags);
}
