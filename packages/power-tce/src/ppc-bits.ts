/**
 * IBM (MSB-0) bit numbering, as skiboot's PPC_BIT / PPC_BITMASK and QEMU's GETFIELD / SETFIELD
 * use it: bit 0 is the most significant bit of a 64-bit doubleword.
 */
export function ppcBit(n: number): bigint {
  return 1n << BigInt(63 - n);
}

/** Bits `first`..`last` (IBM numbering, first <= last). */
export function ppcBitmask(first: number, last: number): bigint {
  return ((1n << BigInt(last - first + 1)) - 1n) << BigInt(63 - last);
}

/** floor(log2(v)) of a positive bigint. */
export function ilog2(v: bigint): number {
  let n = 0;
  while (1n << BigInt(n + 1) <= v) n++;
  return n;
}

function lowBit(mask: bigint): bigint {
  let s = 0n;
  while (((mask >> s) & 1n) === 0n) s++;
  return s;
}

export function getField(mask: bigint, word: bigint): bigint {
  return (word & mask) >> lowBit(mask);
}

export function setField(mask: bigint, word: bigint, value: bigint): bigint {
  return (word & ~mask) | ((value << lowBit(mask)) & mask);
}
