import type { DomainDump, DumpTable } from '@ioasid/core';

/** What of a dump to show: entries meeting an input range, and tables down to a depth. */
export interface DumpFilter {
  /** Inclusive input-address range; entries whose span does not meet it are left out. */
  first?: bigint;
  last?: bigint;
  /** Tables shown below the root table (0: the root table only). */
  depth?: number;
}

/** A table cut off by --depth keeps its address and says how many entries it holds. */
export interface ShownTable extends DumpTable {
  /** Entries in use that --depth left out. */
  elided?: number;
  /** Set when --iova/--range left entries out: how many the table holds in use. */
  inUse?: number;
}

function filterTable(t: DumpTable, f: DumpFilter, depth: number): ShownTable {
  const span = t.span;
  const entries = t.entries.filter((e) => {
    if (span === undefined) return true;
    const end = e.iova + span - 1n;
    return (f.first === undefined || end >= f.first) && (f.last === undefined || e.iova <= f.last);
  });
  const ranged = f.first !== undefined || f.last !== undefined;
  return {
    ...t,
    ...(ranged ? { inUse: t.entries.length } : {}),
    entries: entries.map((e) => {
      if (!e.child) return e;
      if (f.depth !== undefined && depth >= f.depth) return { ...e, child: { ...e.child, entries: [], elided: e.child.entries.length } satisfies ShownTable };
      return { ...e, child: filterTable(e.child, f, depth + 1) };
    }),
  };
}

/** The dump with the filter applied to every table (children's in their own input space). */
export function filterDump(d: DomainDump, f: DumpFilter): DomainDump {
  if (f.first === undefined && f.last === undefined && f.depth === undefined) return d;
  return {
    ...d,
    root: d.root ? filterTable(d.root, f, 0) : null,
    ...(d.children ? { children: d.children.map((c) => filterDump(c, f)) } : {}),
  };
}

/**
 * `--iova A` (one address), `--range A-B` (inclusive) or `--range A+SIZE`: numbers in hex (0x…)
 * or decimal. Returns the inclusive range, or a reason it could not be read.
 */
export function parseRange(iova: string | undefined, range: string | undefined): { first?: bigint; last?: bigint } | string {
  const num = (s: string): bigint | undefined => (/^(0x[0-9a-f_]+|\d[\d_]*)$/i.test(s.trim()) ? BigInt(s.trim().replace(/_/g, '')) : undefined);
  if (iova !== undefined && range !== undefined) return 'give --iova or --range, not both';
  if (iova !== undefined) {
    const a = num(iova);
    return a === undefined ? `--iova: expected an address like 0x200000 (got '${iova}')` : { first: a, last: a };
  }
  if (range === undefined) return {};
  const m = /^(.+?)(\+|-|\.\.)(.+)$/.exec(range.trim());
  const a = m ? num(m[1]) : undefined;
  const b = m ? num(m[3]) : undefined;
  if (!m || a === undefined || b === undefined) return `--range: expected START-LAST or START+SIZE, e.g. 0x0+0x200000 (got '${range}')`;
  if (m[2] === '+') return b === 0n ? `--range: the size is 0 in '${range}'` : { first: a, last: a + b - 1n };
  return b < a ? `--range: the end is below the start in '${range}'` : { first: a, last: b };
}
