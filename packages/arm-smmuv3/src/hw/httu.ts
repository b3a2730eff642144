import { AF, HI_DBM, S1_AP_RDONLY, S2_AP_WRITE } from '../formats/lpae-fields.js';

/** What a stage's configuration says about hardware updates (a StageConfig is one). */
export interface HttuConfig {
  readonly stage: 1 | 2;
  readonly ha: boolean;
  readonly hd: boolean;
}

/**
 * Hardware translation table updates (SMMU_IDR0.HTTU; Arm ARM D8.4 "Hardware management of the
 * Access flag and dirty state"), on the low word of a leaf descriptor as the walk read it:
 *
 * - access flag (CD.HA / STE.S2HA): AF (bit 10) = 0 becomes 1 instead of an Access flag fault;
 * - dirty state (CD.HD / STE.S2HD): a leaf with DBM (bit 51) = 1 is "writable-clean" while its
 *   write permission bit says read-only (stage 1 AP[2], bit 7, = 1; stage 2 S2AP[1], bit 7, = 0)
 *   and "writable-dirty" once a write changed that bit (AP[2] = 0; S2AP[1] = 1). Linux
 *   io-pgtable-arm calls these iopte_set_writeable_clean / iopte_writeable_dirty.
 *
 * Returns the low word after the updates a `write` (or read) access makes; equal to `lo` when the
 * descriptor is left as it is. A stage 1 leaf under an APTable read-only table (`tableRdonly`)
 * is not writable whatever its DBM, so it is not dirtied.
 */
export function hardwareUpdate(cfg: HttuConfig, lo: number, hi: number, write: boolean, tableRdonly: boolean): number {
  let out = lo;
  if (cfg.ha && (out & AF) === 0) out |= AF;
  if (write && cfg.hd && (hi & HI_DBM) !== 0) {
    if (cfg.stage === 1) {
      if (!tableRdonly && (out & S1_AP_RDONLY) !== 0) out &= ~S1_AP_RDONLY;
    } else if ((out & S2_AP_WRITE) === 0) out |= S2_AP_WRITE;
  }
  return out >>> 0;
}

/** SMMU_IDR0.HTTU (bits 7:6, Linux IDR0_HTTU): 0 none, 1 access flag (IDR0_HTTU_ACCESS), 2 access flag and dirty state (IDR0_HTTU_ACCESS_DIRTY). */
export const HTTU_NONE = 0;
export const HTTU_ACCESS = 1;
export const HTTU_ACCESS_DIRTY = 2;
