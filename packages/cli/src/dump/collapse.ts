import type { DumpEntry, DumpTable } from '@ioasid/core';

/**
 * A table as rows a person can read: entries one by one, a run of leaves that differ only in
 * their output address (by one constant step) as one row, and a gap of unused slots as one row.
 */
export type DumpRow =
  | { kind: 'entry'; entry: DumpEntry }
  | { kind: 'run'; first: DumpEntry; last: DumpEntry; count: number; step: bigint }
  | { kind: 'empty'; from: number; to: number };

/** Shortest run of alike leaves shown as one row (a pair reads better as two lines). */
const MIN_RUN = 3;

function alike(a: DumpEntry, b: DumpEntry, keep?: ReadonlySet<bigint>): bigint | undefined {
  if (keep && (keep.has(a.entryAddr) || keep.has(b.entryAddr))) return undefined;
  if (a.kernel !== b.kernel) return undefined;
  if (a.child || b.child || a.decoded.kind !== 'leaf' || b.decoded.kind !== 'leaf' || b.index !== a.index + 1) return undefined;
  if (a.decoded.addr === undefined || b.decoded.addr === undefined) return undefined;
  const step = b.decoded.addr - a.decoded.addr;
  // The raw entries differ exactly by the address moved: every other field is equal.
  return b.raw - a.raw === step ? step : undefined;
}

/** `keep`: entries (by address) that stay rows of their own, e.g. the ones a walk read. */
export function dumpRows(t: DumpTable & { inUse?: number }, keep?: ReadonlySet<bigint>): DumpRow[] {
  // A table a range filter cut shows only what it kept: the slots between are not known empty.
  const gaps = t.inUse === undefined;
  const rows: DumpRow[] = [];
  const es = t.entries;
  let next = 0;
  for (let i = 0; i < es.length; ) {
    const e = es[i];
    if (gaps && e.index > next) rows.push({ kind: 'empty', from: next, to: e.index - 1 });
    let j = i;
    const step = i + 1 < es.length ? alike(e, es[i + 1], keep) : undefined;
    if (step !== undefined) while (j + 1 < es.length && alike(es[j], es[j + 1], keep) === step) j++;
    rows.push({ kind: 'entry', entry: e });
    if (j - i + 1 >= MIN_RUN) {
      rows.push({ kind: 'run', first: es[i + 1], last: es[j], count: j - i, step: step! });
      i = j + 1;
    } else i++;
    next = es[i - 1].index + 1;
  }
  if (gaps && t.slots !== undefined && next < t.slots && es.length > 0) rows.push({ kind: 'empty', from: next, to: t.slots - 1 });
  return rows;
}
