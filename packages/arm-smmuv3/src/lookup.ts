import { PROT_READ, PROT_WRITE, type LookupView, type RadixPageTable } from '@ioasid/core';

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
