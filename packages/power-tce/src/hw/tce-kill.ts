import { fieldMaskBig, getFieldBig, setFieldBig } from '@ioasid/core';
import {
  PHB_TCE_KILL_1G,
  PHB_TCE_KILL_2M,
  PHB_TCE_KILL_64K,
  PHB_TCE_KILL_ALL,
  PHB_TCE_KILL_ONE,
  PHB_TCE_KILL_PE,
  PHB_TCE_KILL_PENUM,
  PHB_TCE_KILL_PSEL,
  PHB_TCE_KILL_PSIZE_MASK,
} from './registers.js';

/**
 * PHB_TCE_KILL values as skiboot hw/phb4.c phb4_tce_kill composes them: KILL_ALL; KILL_PE with the
 * PE# in PENUM; KILL_ONE with the DMA address, the PE# in PENUM (bits 8:0, below the page) and,
 * for pages larger than 4 KiB, PSEL plus a size code in address bits 13:12.
 */
export type TceKill =
  | { kind: 'all' }
  | { kind: 'pe'; pe: number }
  | { kind: 'one'; pe: number; dmaAddr: bigint; pageShift: number };

const SIZE_CODES: Record<number, bigint> = { 16: PHB_TCE_KILL_64K, 21: PHB_TCE_KILL_2M, 30: PHB_TCE_KILL_1G };
const CODE_SHIFTS: Record<string, number> = { '4096': 16, '8192': 21, '12288': 30 };
const FLAG_BITS = PHB_TCE_KILL_ALL | PHB_TCE_KILL_PE | PHB_TCE_KILL_ONE | PHB_TCE_KILL_PSEL;
const PENUM_MASK = fieldMaskBig(PHB_TCE_KILL_PENUM);

export function encodeTceKill(k: TceKill): bigint {
  if (k.kind === 'all') return PHB_TCE_KILL_ALL;
  if (k.kind === 'pe') return PHB_TCE_KILL_PE | setFieldBig(0n, PHB_TCE_KILL_PENUM, k.pe);
  let v = PHB_TCE_KILL_ONE | setFieldBig(k.dmaAddr, PHB_TCE_KILL_PENUM, k.pe);
  if (k.pageShift !== 12) v |= PHB_TCE_KILL_PSEL | SIZE_CODES[k.pageShift];
  return v;
}

/** Which kill a register value asks for (ALL wins over PE over ONE), or null for none. */
export function decodeTceKill(v: bigint): TceKill | null {
  const pe = Number(getFieldBig(v, PHB_TCE_KILL_PENUM));
  if (v & PHB_TCE_KILL_ALL) return { kind: 'all' };
  if (v & PHB_TCE_KILL_PE) return { kind: 'pe', pe };
  if (!(v & PHB_TCE_KILL_ONE)) return null;
  let addr = v & ~FLAG_BITS & ~PENUM_MASK;
  let pageShift = 12;
  if (v & PHB_TCE_KILL_PSEL) {
    pageShift = CODE_SHIFTS[(v & PHB_TCE_KILL_PSIZE_MASK).toString()] ?? 12;
    addr &= ~PHB_TCE_KILL_PSIZE_MASK;
  }
  return { kind: 'one', pe, dmaAddr: addr, pageShift };
}

/** IO page sizes a page kill can name (skiboot phb4_tce_kill). */
export function tceKillSupportsShift(shift: number): boolean {
  return shift === 12 || shift in SIZE_CODES;
}
