import { ptHarvestDirty, ptRewriteLeaves, type DirtyLog, type RadixPageTable } from '@ioasid/core';
import { PTE_D, PTE_W } from './formats/sv-pte.js';
import type { SvFormat } from './formats/sv.js';

/**
 * Dirty logging of a 'map' IOASID (capabilities.AMO_HWAD): while it is on, every DC walking the
 * G-stage has DC.tc.GADE and every writable leaf is kept with D clear, which the unit sets on a
 * write (spec §2.6). Off, the leaves have D set again before GADE goes, so no write faults.
 */

/** Clears (`clean`) or sets D in every writable leaf of `table`. */
export function markLeaves(table: RadixPageTable, clean: boolean): void {
  ptRewriteLeaves(table, (w, i) => {
    if ((w[i] & PTE_W) !== 0) w[i] = (clean ? w[i] & ~PTE_D : w[i] | PTE_D) >>> 0;
  });
}

/** What the G-stage domain hands over: its table (with its own format instance) and the invalidation of a GPA range. */
export interface DirtyTarget {
  readonly pt: RadixPageTable;
  readonly inputBits: number;
  invalidateGpa(iova: bigint, size: bigint): void;
}

/**
 * GET_DIRTY_BITMAP: the D bits of the leaves meeting the range, read from memory; a clearing read
 * is followed by IOTINVAL.GVMA of the range it cleared, so that the next write walks and logs.
 */
export function harvest(d: DirtyTarget, log: DirtyLog, clear: boolean): void {
  // The table's geometry ends the walk at its input width.
  ptHarvestDirty(d.pt, log, { clear });
  if (clear && log.high > log.low) d.invalidateGpa(BigInt(log.low) << 12n, BigInt(log.high - log.low) << 12n);
}

export type { SvFormat };
