/**
 * The model's IOTLB (spec §2.7 leaves its organisation to the implementation): tagged by GSCID,
 * PSCID and privilege, bounded and set-associative in typed arrays, emptied only by IOTINVAL.
 */
import { describe, expect, it } from 'vitest';
import { IOTLB_SETS, IOTLB_WAYS, Iotlb, NO_ID, tlbTag } from '../src/hw/iotlb.js';

describe('IOTLB', () => {
  it('a block is found from any page inside it, with what was cached', () => {
    const t = new Iotlb();
    const id = t.tagId(tlbTag(3, 7, false));
    t.insert(id, 0x400, 0x9000, 512, 3, 1, true);
    expect(t.entry(id, 0x400 + 17)).toEqual({ first: 0x400, frame: 0x9000, pages: 512, perms: 3, s1perms: 1, dirtyOk: true });
    expect(t.entry(id, 0x400 + 512)).toBeUndefined();
    // Another tag (another PSCID, or supervisor) never sees it.
    expect(t.entry(t.tagId(tlbTag(3, 8, false)), 0x401)).toBeUndefined();
    expect(t.entry(t.tagId(tlbTag(3, 7, true)), 0x401)).toBeUndefined();
  });

  it('IOTINVAL by page drops the block holding it; by GSCID or PSCID every entry of the tags it names', () => {
    const t = new Iotlb();
    const a = t.tagId(tlbTag(1, 5, false));
    const b = t.tagId(tlbTag(1, NO_ID, false));
    const c = t.tagId(tlbTag(2, 5, false));
    for (const id of [a, b, c]) for (let p = 0; p < 8; p++) t.insert(id, 0x100 + p, 0x5000 + p, 1, 3, 3, false);
    expect(t.size).toBe(24);
    t.invalidate({ gscid: 1, pscid: 5, vpn: 0x103, onlyFirstStage: true });
    expect(t.entry(a, 0x103)).toBeUndefined();
    expect(t.entry(a, 0x104)).toBeDefined();
    expect(t.entry(b, 0x103)).toBeDefined(); // G-stage-only entries: not a first-stage invalidation's
    t.invalidate({ gscid: 1 });
    expect([t.entry(a, 0x104), t.entry(b, 0x104)]).toEqual([undefined, undefined]);
    expect(t.entry(c, 0x104)).toBeDefined();
    expect(t.size).toBe(8);
    // A flushed tag fills again.
    t.insert(a, 0x104, 0x7000, 1, 1, 1, false);
    expect(t.entry(a, 0x104)?.frame).toBe(0x7000);
  });

  it('is bounded: a set holds IOTLB_WAYS blocks, and one more replaces one of them', () => {
    const t = new Iotlb();
    const id = t.tagId(tlbTag(0, 0, false));
    // Pages IOTLB_SETS apart index the same set.
    const pages = Array.from({ length: IOTLB_WAYS + 1 }, (_, k) => 0x10 + k * IOTLB_SETS);
    for (const p of pages) t.insert(id, p, p + 1, 1, 3, 3, false);
    const held = pages.filter((p) => t.entry(id, p) !== undefined);
    expect(held).toHaveLength(IOTLB_WAYS);
    expect(t.entry(id, pages.at(-1)!)?.frame).toBe(pages.at(-1)! + 1); // the newest is in
    expect(t.size).toBe(IOTLB_WAYS);
    // Consecutive pages use consecutive sets: IOTLB_SETS · IOTLB_WAYS of them all stay.
    const u = new Iotlb();
    const j = u.tagId(tlbTag(0, 1, false));
    for (let p = 0; p < IOTLB_SETS * IOTLB_WAYS; p++) u.insert(j, 0x40000 + p, p, 1, 3, 3, false);
    expect(u.size).toBe(IOTLB_SETS * IOTLB_WAYS);
  });
});
