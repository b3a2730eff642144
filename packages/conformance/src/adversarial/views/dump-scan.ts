/** What a DUMP_PGTABLE result shows, found by walking the returned object (its shape is the vendor's). */
export interface DumpScan {
  /** Table nodes (objects with a `tableAddr` and `entries`) whose address `isGuest` accepts. */
  guestNodes: number;
  /** Whether some (address, level) appears twice among those (a tree view following a cycle). */
  repeats: boolean;
  /** Whether anything in it says `truncated: true`. */
  truncated: boolean;
  nodes: number;
}

/** Objects scanned at most (a dump bigger than this is not looked at further). */
const MAX_OBJECTS = 2_000_000;

export function scanDump(dump: unknown, isGuest: (addr: bigint) => boolean): DumpScan {
  const out: DumpScan = { guestNodes: 0, repeats: false, truncated: false, nodes: 0 };
  const seenKeys = new Set<string>();
  const seen = new Set<object>();
  const stack: unknown[] = [dump];
  while (stack.length > 0 && seen.size < MAX_OBJECTS) {
    const o = stack.pop();
    if (typeof o !== 'object' || o === null || seen.has(o)) continue;
    seen.add(o);
    const rec = o as Record<string, unknown>;
    if (rec.truncated === true) out.truncated = true;
    if (typeof rec.tableAddr === 'bigint' && Array.isArray(rec.entries)) {
      out.nodes++;
      if (isGuest(rec.tableAddr)) {
        out.guestNodes++;
        const key = `${rec.tableAddr}@${String(rec.level)}`;
        if (seenKeys.has(key)) out.repeats = true;
        seenKeys.add(key);
      }
    }
    for (const v of Array.isArray(o) ? o : Object.values(rec)) if (typeof v === 'object' && v !== null) stack.push(v);
  }
  return out;
}
