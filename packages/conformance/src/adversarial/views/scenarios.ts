import { PROT_READ, PROT_WRITE, tableFrames, type Machine, type PtFormat } from '@ioasid/core';
import type { GuestTable } from '../../kit.js';
import { PAGE } from '../../kit.js';

/** GPAs the parent leaves unmapped: a pointer there must fault in the parent stage, in every view. */
export const HOLE = { start: 4n * 1024n * 1024n, end: 5n * 1024n * 1024n };

export type TableScenario = 'self' | 'cycle' | 'hole' | 'beyond' | 'random';
export const TABLE_SCENARIOS: TableScenario[] = ['self', 'cycle', 'hole', 'beyond', 'random'];

/** Writes one entry: a table pointer at `level` (or, where the format cannot, raw words). */
function pointTo(m: Machine, fmt: PtFormat, gfn: number, idx: number, level: number, target: number, raw: (lo: number) => number = (lo) => lo): void {
  const frame = gfn + (idx >>> 9);
  const w = m.guest.wordsForWrite(frame);
  const i = m.guest.wordBase(frame) + ((idx & 511) << 1);
  try {
    if (level > 0) fmt.setTable(w, i, level, target);
    else fmt.setLeaf(w, i, 0, target, PROT_READ | PROT_WRITE);
  } catch {
    w[i] = raw((((target & 0xfffff) << 12) | 3) >>> 0) >>> 0;
    w[i + 1] = Math.floor(target / 0x100000);
  }
}

/** Every entry of the table at `gfn` (level `level`) made to point at `target`. */
function fillTable(m: Machine, fmt: PtFormat, gfn: number, level: number, target: number): void {
  const count = Math.min(2 ** fmt.levelBits(level), tableFrames(fmt, level) * 512);
  for (let idx = 0; idx < count; idx++) pointTo(m, fmt, gfn, idx, level, target);
}

/**
 * Makes the guest table hostile:
 * - self: every root entry points at the root (each level sees the root again: a complete tree
 *   view has (entries per table)^(levels−1) nodes);
 * - cycle: the deepest table on a walk points back at the root, the root's free entries at it;
 * - hole: the root points into GPA the parent does not map, where a table points at itself;
 * - beyond: the root points past the end of guest RAM;
 * - random: random words in the root.
 */
export function makeHostile(m: Machine, gt: GuestTable, sc: TableScenario, seed: number, probe: bigint): void {
  const { fmt } = gt;
  const top = fmt.levels - 1;
  const root = Number(gt.pt.root / PAGE);
  switch (sc) {
    case 'self':
      fillTable(m, fmt, root, top, root);
      return;
    case 'cycle': {
      const steps = gt.pt.table.walk(Number(probe / PAGE)).filter((s) => s.level > 0);
      const deepest = steps[steps.length - 1];
      if (!deepest || deepest.level === top) {
        fillTable(m, fmt, root, top, root);
        return;
      }
      const mid = Number(deepest.tableAddr / PAGE);
      fillTable(m, fmt, mid, deepest.level, root);
      const used = new Set(steps.filter((s) => s.level === top).map((s) => s.index));
      const count = Math.min(2 ** fmt.levelBits(top), 512);
      for (let idx = 0; idx < count; idx++) if (!used.has(idx)) pointTo(m, fmt, root, idx, top, mid);
      return;
    }
    case 'hole': {
      const fake = Number(HOLE.start / PAGE) + 7;
      fillTable(m, fmt, fake, Math.max(0, top - 1), fake);
      fillTable(m, fmt, root, top, fake);
      return;
    }
    case 'beyond':
      fillTable(m, fmt, root, top, Number(m.guest.size / PAGE) + 17);
      return;
    case 'random': {
      const w = m.guest.wordsForWrite(root);
      const base = m.guest.wordBase(root);
      let x = (seed * 2654435761) >>> 0 || 1;
      for (let i = 0; i < 1024; i++) {
        x ^= x << 13;
        x >>>= 0;
        x ^= x >>> 17;
        x ^= x << 5;
        x >>>= 0;
        w[base + i] = x;
      }
      return;
    }
  }
}
