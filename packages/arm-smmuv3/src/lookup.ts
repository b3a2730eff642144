import { fail, ptLookupView, type DumpBudget, type LookupView, type PtTableRef } from '@ioasid/core';

/** LOOKUP through one table (core's ptLookupView, no cache touched), with the stage's label and fault names. */
export function lookupStage(table: PtTableRef, iova: bigint, stage: string): LookupView {
  return ptLookupView(table, iova, { stage, beyond: () => `${stage}: input address beyond the table`, unmapped: () => `${stage}: not mapped` });
}

/** LOOKUP of a guest stage 1 address, then of its IPA through the parent's stage 2. */
export function lookupNested(s1: PtTableRef, s2: PtTableRef, iova: bigint): LookupView {
  const v1 = lookupStage(s1, iova, 'stage-1');
  if (v1.output === null) return v1;
  const v2 = lookupStage(s2, v1.output, 'stage-2');
  const view: LookupView = { iova, steps: [...v1.steps, ...v2.steps], output: v2.output };
  if (v2.output === null) {
    view.fault = v2.fault;
    return view;
  }
  view.perms = { read: !!v1.perms?.read && !!v2.perms?.read, write: !!v1.perms?.write && !!v2.perms?.write };
  view.pageSize = v1.pageSize! < v2.pageSize! ? v1.pageSize : v2.pageSize;
  return view;
}

/**
 * How much of a guest-written structure one DUMP decodes (every view of guest memory
 * is bounded): at most 65,536 non-empty entries reported, as VT-d's bounded dump, and 2^20
 * entries examined (a hostile table of empty 64K-granule tables costs reads, not entries).
 * Guest stage 1 tables and guest CD tables of one DUMP share one budget.
 */
export const GUEST_DUMP_ENTRIES = 1 << 16;
export const GUEST_DUMP_READS = 1 << 20;

export function guestDumpBudget(): DumpBudget {
  return { entries: GUEST_DUMP_ENTRIES, reads: GUEST_DUMP_READS, truncated: false };
}

/** LOOKUP's optional PASID: a SubstreamID (at most 20 bits, SMMU_IDR1.SSIDSIZE ≤ 20). */
export function checkLookupPasid(pasid: unknown): void {
  if (pasid !== undefined && (typeof pasid !== 'number' || !Number.isInteger(pasid) || pasid < 0 || pasid >= 2 ** 20)) {
    fail('EINVAL', `pasid must be an integer in [0, 2^20) (got ${String(pasid)})`);
  }
}
