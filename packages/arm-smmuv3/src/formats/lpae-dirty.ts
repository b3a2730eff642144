import { dirtyByPattern, type DirtyPattern } from '@ioasid/core';
import { DESC_TYPE_MASK, DESC_TYPE_TABLE, HI_DBM, S1_AP_RDONLY, S2_AP_WRITE } from './lpae-fields.js';

/**
 * Dirty state of VMSAv8-64 leaf descriptors managed by hardware (Arm ARM D8.4.6; Linux
 * io-pgtable-arm with IO_PGTABLE_QUIRK_ARM_HD). A writable leaf is written with DBM (bit 51)
 * set and its write permission bit in the read-only state ("writable-clean": stage 1 AP[2],
 * bit 7, = 1; stage 2 S2AP[1], bit 7, = 0). A write through a walk with CD.HD / STE.S2HD turns
 * that bit to the writable state ("writable-dirty"), in memory. Words are the descriptor's low
 * (`w[i]`) and high (`w[i + 1]`) halves.
 */

/** Whether the leaf at `w[i]` can be written: DBM set, or its permission bit allows writes. */
function writableNow(stage: 1 | 2, lo: number): boolean {
  return stage === 1 ? (lo & S1_AP_RDONLY) === 0 : (lo & S2_AP_WRITE) !== 0;
}

/** Linux iopte_writeable_dirty as bit patterns: DBM set and the permission bit in its writable state. */
export const LPAE_DIRTY: Readonly<Record<1 | 2, DirtyPattern>> = {
  1: { loMask: S1_AP_RDONLY, loValue: 0, hiMask: HI_DBM, hiValue: HI_DBM },
  2: { loMask: S2_AP_WRITE, loValue: S2_AP_WRITE, hiMask: HI_DBM, hiValue: HI_DBM },
};

/** Linux iopte_writeable_dirty: a leaf (not a table descriptor) matching LPAE_DIRTY. */
export function lpaeIsDirty(stage: 1 | 2, w: Uint32Array, i: number, level: number): boolean {
  if (level > 0 && (w[i] & DESC_TYPE_MASK) === DESC_TYPE_TABLE) return false;
  return dirtyByPattern(LPAE_DIRTY[stage], w, i);
}

/** Linux iopte_set_writeable_clean: the permission bit back to read-only, DBM kept. */
export function lpaeSetClean(stage: 1 | 2, w: Uint32Array, i: number): void {
  if ((w[i + 1] & HI_DBM) === 0) return;
  w[i] = (stage === 1 ? w[i] | S1_AP_RDONLY : w[i] & ~S2_AP_WRITE) >>> 0;
}

/** A writable leaf without DBM becomes writable-clean (dirty logging starts); true if it changed. */
export function lpaeArmDirty(stage: 1 | 2, w: Uint32Array, i: number): boolean {
  if ((w[i + 1] & HI_DBM) !== 0 || !writableNow(stage, w[i])) return false;
  w[i + 1] = (w[i + 1] | HI_DBM) >>> 0;
  lpaeSetClean(stage, w, i);
  return true;
}

/** A DBM leaf becomes plainly writable, DBM cleared (dirty logging stops); true if it changed. */
export function lpaeDisarmDirty(stage: 1 | 2, w: Uint32Array, i: number): boolean {
  if ((w[i + 1] & HI_DBM) === 0) return false;
  w[i + 1] = (w[i + 1] & ~HI_DBM) >>> 0;
  w[i] = (stage === 1 ? w[i] & ~S1_AP_RDONLY : w[i] | S2_AP_WRITE) >>> 0;
  return true;
}
