import { fail } from '@ioasid/core';
import { hex } from './tables/qwords.js';

/**
 * Refuses (ERANGE) a kernel structure of `frames` frames at `frame` that a pointer of the unit
 * cannot reach: the unit addresses host memory below 2^HAW, and every pointer field the kernel
 * writes (RTADDR_REG, root entry CTP, context entry PASIDDIRPTR, PASID directory entry, SLPTPTR,
 * IQA_REG, PQA_REG, the wait descriptor's status address) has its bits at and above HAW reserved
 * or masked off (QEMU VTD_HAW_MASK in VTD_RTADDR_ADDR_MASK, VTD_IQA_IQA_MASK, VTD_ROOT_ENTRY_RSVD,
 * VTD_SM_CONTEXT_ENTRY_RSVD_VAL0). Called before the pointer is written; the caller frees what it
 * allocated.
 */
export function checkHostPointer(frame: number, frames: number, haw: number, field: string): void {
  if (frame + frames > 2 ** (haw - 12)) {
    fail('ERANGE', `${field} ${hex(BigInt(frame) * 4096n)} does not fit the unit's ${haw}-bit host address width (HAW)`);
  }
}
