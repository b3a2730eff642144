import type { DmaRequest } from '@ioasid/core';
import type { ContextCacheEntry } from './context-cache.js';
import { FR } from './fault-reasons.js';

/** First and last frame of the interrupt address range 0xFEE00000–0xFEEFFFFF. */
export const IRQ_FIRST = 0xfee00;
export const IRQ_LAST = 0xfeeff;

/**
 * What the unit does with a translated request (PCIe AT = translated: the address is a host
 * address from the device's ATC) once its scalable-mode context entry is read (VT-d §4.2.5,
 * §9.4, §7.1.3 table 30): 0 when it passes with its own address, else the fault reason.
 *
 * - DTE = 0 blocks it (SCT.5, 44h; Linux "SM: DTE field in Context Entry is clear").
 * - With a PASID it needs EPTR = 1 (SCT.10, 49h). This unit does not report PASID in translated
 *   requests in ECAP_REG, so EPTR is reserved 0 and every such request is blocked.
 * - Its address must lie below 2^HAW (SGN.4.1, 83h) and outside the interrupt range (SGN.8.3, 87h).
 *
 * The unit has no host permission table (HPTE is reserved), so nothing else is checked: the
 * PASID tables and page tables are not walked.
 */
export function translatedFault(ctx: ContextCacheEntry, req: DmaRequest, haw: number): number {
  if (!ctx.dte) return FR.SM_DTE_ABS;
  if (req.pasid >= 0) return FR.SM_EPTR_ABS;
  const f = req.iovaFrame;
  if (f >= 2 ** (haw - 12)) return FR.SM_ADDR_BEYOND_MGAW;
  if (f >= IRQ_FIRST && f <= IRQ_LAST) return FR.SM_INTERRUPT_ADDR;
  return 0;
}

/** SGN.4.1 shares its code (83h) with the second-stage width check; this is its own meaning. */
export const TRANSLATED_BEYOND_HAW = "a translated request's address is above the host address width (HAW)";
