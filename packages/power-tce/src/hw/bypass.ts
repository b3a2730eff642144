import { TVE_REAL_ADDR_BITS, TVE_REAL_UNIT_SHIFT } from '../tables/tve-real.js';
import type { LatchedTve } from './latched-tve.js';

/** 4 KiB frames per 16 MiB range unit, range units in bus address bits 49:24, real frames in bits 49:12. */
const FRAMES_PER_UNIT = 2 ** (TVE_REAL_UNIT_SHIFT - 12);
const UNITS = 2 ** (TVE_REAL_ADDR_BITS - TVE_REAL_UNIT_SHIFT);
const REAL_FRAMES = 2 ** (TVE_REAL_ADDR_BITS - 12);

/**
 * A DMA through a non-translate TVE (tve-real.ts): the real frame, or -1 when a 50-bit
 * non-translate TVE's range check refuses it. Only bus address bits 49:24 take part in the check
 * (skiboot's statement of the rule names no others) and bits 49:12 form the real frame (QEMU
 * pnv_phb4_translate_tve's mask), so bits 58:50 are ignored. The bits above 49 of the real address
 * come from PHB_NXLATE_PREFIX, which this model leaves at 0 (skiboot writes 0 there).
 */
export function bypassFrame(tve: LatchedTve, busFrame: number): number {
  if (tve.realChecked) {
    const unit = Math.floor(busFrame / FRAMES_PER_UNIT) % UNITS;
    if (unit < tve.realStartUnit || unit >= tve.realEndUnit) return -1;
  }
  return busFrame % REAL_FRAMES;
}
