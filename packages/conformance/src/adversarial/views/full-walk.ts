import { entryHalves, tableFrames, type Machine, type PtFormat } from '@ioasid/core';

/** Tree nodes counted at most (a complete tree view of a self-referencing table is astronomically large). */
const CAP = 1e12;

export interface FullWalk {
  /** Distinct (table, level) pairs reachable from the root through guest RAM the parent maps. */
  distinct: number;
  /** Table nodes a complete tree view (each pointer followed) would show, capped. */
  tree: number;
  /** The guest frames of those tables. */
  frames: Set<number>;
}

/**
 * What a complete view of the guest table at `rootGfn` holds, walked by the kit itself with the
 * format's own decoder over guest memory, following table entries into guest RAM outside `hole`.
 */
export function fullWalk(m: Machine, fmt: PtFormat, rootGfn: number, hole: { start: bigint; end: bigint }): FullWalk {
  const frames = Number(m.guest.size / 4096n);
  const holeLo = Number(hole.start / 4096n);
  const holeHi = Number(hole.end / 4096n);
  const memo = new Map<string, number>();
  const visit = (gfn: number, level: number): number => {
    const key = `${gfn}:${level}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    memo.set(key, 1); // a cycle back here counts once more, and stops
    let n = 1;
    if (level > 0) {
      const count = 2 ** fmt.levelBits(level);
      const span = tableFrames(fmt, level);
      for (let idx = 0; idx < count; idx++) {
        const f = gfn + (idx >>> 9);
        if (f >= frames || idx >>> 9 >= span) break;
        const w = m.guest.wordsForRead(f);
        const [lo, hi] = entryHalves(fmt, w, m.guest.wordBase(f) + ((idx & 511) << 1));
        const d = fmt.decode(lo, hi, level);
        if (d.kind !== 'table' || d.addr === undefined) continue;
        const child = Number(d.addr / 4096n);
        if (child >= frames || (child >= holeLo && child < holeHi)) continue;
        n = Math.min(CAP, n + visit(child, level - 1));
      }
    }
    memo.set(key, n);
    return n;
  };
  const tree = visit(rootGfn, fmt.levels - 1);
  return { distinct: memo.size, tree, frames: new Set([...memo.keys()].map((k) => Number(k.split(':')[0]))) };
}
