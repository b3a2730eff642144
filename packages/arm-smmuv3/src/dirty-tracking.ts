import { ptHarvestDirty, ptRewriteLeaves, type DirtyLog, type RadixPageTable } from '@ioasid/core';
import { lpaeArmDirty, lpaeDisarmDirty } from './formats/lpae-dirty.js';
import type { LpaeFormat } from './formats/lpae.js';
import { flushParent } from './cache-maintenance.js';
import { invRange } from './invalidation.js';
import type { SmmuS2Domain } from './domain-types.js';
import type { SmmuKernel } from './kernel-context.js';

/**
 * Dirty tracking of a kernel-managed space (IOMMU_HWPT_SET_DIRTY_TRACKING /
 * IOMMU_HWPT_GET_DIRTY_BITMAP) with hardware dirty state (SMMU_IDR0.HTTU = 2). The space's own
 * table is stage 2, so its StreamIDs' STEs set S2HA/S2HD; the stage 1 copy that PASID traffic
 * uses through CDs, when there is one, is tracked the same way with CD.HA/HD, as Linux tracks
 * its stage 1 domains (arm_smmu_make_s1_cd with IO_PGTABLE_QUIRK_ARM_HD). Every writable leaf is
 * kept writable-clean (DBM set) while tracking is on; the unit makes it writable-dirty on a write.
 */

/** The tables of a domain and their formats: stage 2, then the stage 1 copy if any. */
function tables(d: SmmuS2Domain): { table: RadixPageTable; fmt: LpaeFormat }[] {
  const out = [{ table: d.table, fmt: d.fmt }];
  if (d.s1) out.push({ table: d.s1.table, fmt: d.s1.table.fmt as LpaeFormat });
  return out;
}

/** Sets or clears DBM on every writable leaf of `table` (writable-clean, or plainly writable again). */
function markLeaves(table: RadixPageTable, stage: 1 | 2, on: boolean): void {
  ptRewriteLeaves(table, (w, i) => (on ? lpaeArmDirty(stage, w, i) : lpaeDisarmDirty(stage, w, i)));
}

/**
 * Turns logging on or off. On: the STEs (S2HA/S2HD) and CDs (HA/HD) first, then every writable
 * leaf becomes writable-clean, so the log starts empty (iommufd clears it before enabling), then
 * the TLB and ATCs forget the old permissions. Off: the leaves first (plainly writable again,
 * so that no write faults once HD is gone), then the STEs and CDs.
 */
export function setTracking(k: SmmuKernel, d: SmmuS2Domain, enable: boolean, setFlag: (on: boolean) => void): void {
  const refresh = (): void => {
    for (const s of k.streams.values()) {
      s.refreshKernelCds(d);
      s.installSte();
    }
  };
  if (enable) {
    setFlag(true);
    refresh();
  }
  for (const t of tables(d)) {
    t.fmt.trackDirty = enable;
    markLeaves(t.table, t.fmt.stage, enable);
  }
  flushParent(k, d, null);
  if (!enable) {
    setFlag(false);
    refresh();
  }
}

/**
 * GET_DIRTY_BITMAP: the dirty leaves meeting [iova, iova + size) in both tables, in address
 * order; with `clear`, each back to writable-clean and the TLB and ATCs invalidated for the
 * leaves cleared (Linux arm_lpae_read_and_clear_dirty, then the iotlb gather flush).
 */
export function harvestDirty(k: SmmuKernel, d: SmmuS2Domain, log: DirtyLog, clear: boolean): void {
  // The tables' geometry ends the walk at the IPA size; the log's bitmap is the caller's.
  for (const t of tables(d)) ptHarvestDirty(t.table, log, { clear });
  if (clear && log.high > log.low) {
    const lo = BigInt(log.low) << 12n;
    flushParent(k, d, invRange(lo, (BigInt(log.high) << 12n) - lo, d.fmt.granule, d.fmt.geometry.ias));
  }
}
