/**
 * Circular queue pointers (SMMUv3 §3.5.1): an index of LOG2SIZE bits plus a wrap bit just above
 * it. Empty when index and wrap both match; full when the indexes match and the wraps differ.
 * Bit 31 of the PROD/CONS registers (overflow flags, CMDQ_CONS.ERR above the pointer) is kept
 * apart by the callers.
 */
export function qMask(log2: number): number {
  return (2 ** (log2 + 1) - 1) >>> 0;
}

export function qIndex(p: number, log2: number): number {
  return p & (2 ** log2 - 1);
}

export function qWrap(p: number, log2: number): number {
  return (p >>> log2) & 1;
}

export function qEmpty(prod: number, cons: number, log2: number): boolean {
  return (prod & qMask(log2)) === (cons & qMask(log2));
}

export function qFull(prod: number, cons: number, log2: number): boolean {
  return qIndex(prod, log2) === qIndex(cons, log2) && qWrap(prod, log2) !== qWrap(cons, log2);
}

export function qInc(p: number, log2: number): number {
  return ((p & qMask(log2)) + 1) & qMask(log2);
}

/** Entries between cons and prod. */
export function qUsed(prod: number, cons: number, log2: number): number {
  const size = 2 ** log2;
  return ((prod & qMask(log2)) - (cons & qMask(log2)) + 2 * size) % (2 * size);
}
