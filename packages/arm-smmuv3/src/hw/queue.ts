/**
 * Circular queue pointers (SMMUv3 §3.5.1): an index of LOG2SIZE bits plus a wrap bit just above
 * it. Empty when index and wrap both match; full when the indexes match and the wraps differ.
 * Bit 31 of the PROD/CONS registers (overflow flags, CMDQ_CONS.ERR above the pointer) is kept
 * apart by the callers. LOG2SIZE is at most 19 (SMMU_IDR1.CMDQS/EVENTQS/PRIQS), so the pointers
 * fit 32-bit integer arithmetic.
 */
export function qMask(log2: number): number {
  return ((1 << (log2 + 1)) - 1) >>> 0;
}

export function qIndex(p: number, log2: number): number {
  return p & ((1 << log2) - 1);
}

export function qWrap(p: number, log2: number): number {
  return (p >>> log2) & 1;
}

export function qEmpty(prod: number, cons: number, log2: number): boolean {
  return ((prod ^ cons) & qMask(log2)) === 0;
}

export function qFull(prod: number, cons: number, log2: number): boolean {
  return ((prod ^ cons) & qMask(log2)) === 1 << log2;
}

export function qInc(p: number, log2: number): number {
  return ((p & qMask(log2)) + 1) & qMask(log2);
}

/** Entries between cons and prod. */
export function qUsed(prod: number, cons: number, log2: number): number {
  const size = 1 << log2;
  return ((prod & qMask(log2)) - (cons & qMask(log2)) + 2 * size) % (2 * size);
}
