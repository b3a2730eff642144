import type { IovaRange } from '../base/info.js';

/** Intersection of two ascending, disjoint range lists. */
export function intersectRanges(a: readonly IovaRange[], b: readonly IovaRange[]): IovaRange[] {
  const out: IovaRange[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const start = a[i].start > b[j].start ? a[i].start : b[j].start;
    const last = a[i].last < b[j].last ? a[i].last : b[j].last;
    if (start <= last) out.push({ start, last });
    if (a[i].last < b[j].last) i++;
    else j++;
  }
  return out;
}

/** The permitted range holding all of [iova, iova+size), if any. */
export function rangeHolding(ranges: readonly IovaRange[], iova: bigint, size: bigint): IovaRange | undefined {
  const last = iova + size - 1n;
  return ranges.find((r) => iova >= r.start && last <= r.last);
}

/** [start, last] minus the holes, as ascending permitted ranges. */
export function subtractHoles(start: bigint, last: bigint, holes: readonly IovaRange[]): IovaRange[] {
  const out: IovaRange[] = [];
  let cur = start;
  for (const h of [...holes].sort((x, y) => (x.start < y.start ? -1 : 1))) {
    if (h.last < cur || h.start > last) continue;
    if (h.start > cur) out.push({ start: cur, last: h.start - 1n });
    cur = h.last + 1n;
  }
  if (cur <= last) out.push({ start: cur, last });
  return out;
}
