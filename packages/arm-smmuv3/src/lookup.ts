import { PROT_READ, PROT_WRITE, fail, type DumpBudget, type LookupView, type RadixPageTable } from '@ioasid/core';

/** LOOKUP through one table, decoded from memory by the engine (no cache is touched). */
export function lookupStage(table: RadixPageTable, iova: bigint, stage: string): LookupView {
  const frame = Number(iova >> 12n);
  if (frame >= table.spanFrames) return { iova, steps: [], output: null, fault: `${stage}: input address beyond the table` };
  const steps = table.walk(frame).map((s) => ({ ...s, stage }));
  const leaf = table.lookup(frame);
  if (!leaf) return { iova, steps, output: null, fault: `${stage}: not mapped` };
  return {
    iova,
    steps,
    output: BigInt(leaf.frame) * 4096n + (iova & 0xfffn),
    perms: { read: (leaf.perms & PROT_READ) !== 0, write: (leaf.perms & PROT_WRITE) !== 0 },
    pageSize: 1n << BigInt(leaf.shift),
  };
}

/** LOOKUP of a guest stage 1 address, then of its IPA through the parent's stage 2. */
export function lookupNested(s1: RadixPageTable, s2: RadixPageTable, iova: bigint): LookupView {
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
 * How much of a guest-written structure one DUMP decodes (DESIGN §7: every view of guest memory
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
