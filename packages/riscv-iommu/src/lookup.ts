import { ptDumpBounded, ptLookupView, Stage2Memory, type DumpTable, type LookupView, type PtTableRef } from '@ioasid/core';
import { svFormat } from './formats/sv.js';
import type { SvMode } from './tables/atp.js';

/**
 * How much of a guest-written structure one DUMP decodes: at most 65,536 non-empty entries
 * reported and 2^20 examined, as the other vendors bound theirs.
 */
export const GUEST_DUMP_LIMITS = { entries: 1 << 16, reads: 1 << 20 } as const;

/** The guest's first-stage table as the unit reads it: GPA frames through the G-stage. */
export function guestTable(gstage: PtTableRef, mem: PtTableRef['mem'], root: number, mode: SvMode): PtTableRef {
  return { mem: new Stage2Memory(mem, gstage), fmt: svFormat(mode), root };
}

export function lookupStage(table: PtTableRef, iova: bigint, stage: string, fault: string): LookupView {
  return ptLookupView(table, iova, { stage, beyond: () => `${stage}: input beyond the table (${fault})`, unmapped: () => `${stage}: not mapped (${fault})` });
}

/** LOOKUP through the guest's first stage, then the GPA through the G-stage. */
export function lookupNested(s1: PtTableRef, g: PtTableRef, iova: bigint): LookupView {
  const v1 = lookupStage(s1, iova, 'first-stage', 'page fault');
  if (v1.output === null) return v1;
  const v2 = lookupStage(g, v1.output, 'G-stage', 'guest-page fault');
  const view: LookupView = { iova, steps: [...v1.steps, ...v2.steps], output: v2.output };
  if (v2.output === null) return { ...view, fault: v2.fault };
  view.perms = { read: !!v1.perms?.read && !!v2.perms?.read, write: !!v1.perms?.write && !!v2.perms?.write };
  view.pageSize = v1.pageSize! < v2.pageSize! ? v1.pageSize : v2.pageSize;
  return view;
}

export function dumpGuest(table: PtTableRef): { root: DumpTable; truncated: boolean } {
  return ptDumpBounded(table, GUEST_DUMP_LIMITS);
}
