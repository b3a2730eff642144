/** 2^64: the first address a u64 cannot hold. */
export const TOP = 1n << 64n;

/**
 * IOVAs around every power of two up to 2^64: 2^k − 4096, 2^k, 2^k + 4096, and 2^64 − 4096
 * (2^64 itself too: it must be refused, not wrapped).
 */
export function widthIovas(): bigint[] {
  const out = new Set<bigint>([0n, 4096n]);
  for (let k = 13n; k <= 64n; k++) {
    const p = 1n << k;
    out.add(p - 4096n);
    out.add(p);
    if (k < 64n) out.add(p + 4096n);
  }
  return [...out].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Sizes for UNMAP_DMA and INVALIDATE_CACHE at `iova`: one page, 2^k, 2^60, and up to 2^64. */
export function widthSizes(iova: bigint, page: bigint): bigint[] {
  const out = new Set<bigint>([page, 1n << 60n]);
  for (let k = 12n; k < 64n; k += 13n) out.add(1n << k);
  if (iova < TOP) out.add(TOP - iova);
  return [...out].filter((s) => s > 0n);
}
