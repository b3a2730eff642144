import { describe, expect, it } from 'vitest';
import { TableCounts } from '../src/pgtable/table-counts.js';

describe("the engine's per-table entry counts", () => {
  it('keeps one count per table frame, absent until set, across blocks and above 2^32', () => {
    const c = new TableCounts();
    const frames = [0, 1, 4095, 4096, 4097, 2 ** 25 + 3, 2 ** 32 - 1, 2 ** 32, 2 ** 34 - 1];
    for (const f of frames) expect(c.get(f)).toBeUndefined();
    frames.forEach((f, i) => c.set(f, i + 1));
    frames.forEach((f, i) => expect(c.get(f)).toBe(i + 1));
    // add() starts an absent table at 0; counts may go negative (release of entries another engine wrote).
    c.add(5, 3);
    c.add(5, -7);
    expect(c.get(5)).toBe(-4);
    c.delete(4096);
    expect(c.get(4096)).toBeUndefined();
    expect(c.get(4095)).toBe(3);
    expect(c.get(4097)).toBe(5);
    // A frame in a block that never held a count is absent, and looking does not make the block.
    c.delete(2 ** 30);
    expect(c.get(2 ** 30)).toBeUndefined();
  });
});
