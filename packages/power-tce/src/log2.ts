/** floor(log2(v)) of a positive bigint (Linux ilog2). */
export function ilog2(v: bigint): number {
  let n = 0;
  while (1n << BigInt(n + 1) <= v) n++;
  return n;
}
