import { describe, expect, it } from 'vitest';
import { NO_ASID, TLB_CAPACITY, TLB_SETS, TLB_WAYS, Tlb, nhTag, s2Tag } from '../src/hw/tlb.js';

/** Output frame of `frame` through `tlb` for the context of `tag` (nhTag or s2Tag), or null on a miss. */
function out(tlb: Tlb, tag: number, frame: number): number | null {
  const vmid = Math.floor(tag / 65536) % 65536;
  const asid = tag >= s2Tag(0) ? NO_ASID : tag % 65536;
  const e = tlb.lookup(vmid, asid, frame);
  return e < 0 ? null : tlb.entryOut(e) + (frame - tlb.entryBase(e));
}

describe('TLB structure: bounded, set-associative, tagged by context', () => {
  it('finds a 4 KiB entry and every page of a block entry, with the offset inside the leaf', () => {
    const tlb = new Tlb();
    const t = s2Tag(1);
    tlb.insert(t, 0, 0x1234, 0x70000, 0x1234, 0x3f);
    tlb.insert(t, 9, 0x40200, 0x80000, 0x40200, 0x3f);
    expect(out(tlb, t, 0x1234)).toBe(0x70000);
    expect(out(tlb, t, 0x1235)).toBeNull();
    expect(out(tlb, t, 0x40200)).toBe(0x80000);
    expect(out(tlb, t, 0x403ff)).toBe(0x801ff);
    expect(out(tlb, t, 0x40400)).toBeNull();
    expect(tlb.size).toBe(2);
    const e = tlb.lookup(1, NO_ASID, 0x40211);
    expect([tlb.entryBase(e), tlb.entryIpa(e), tlb.entryPerms(e)]).toEqual([0x40200, 0x40200, 0x3f]);
  });

  it('holds at most TLB_WAYS entries per set: a fifth fill of one set evicts a way (size stays exact)', () => {
    const tlb = new Tlb();
    const t = s2Tag(1);
    const frames = Array.from({ length: TLB_WAYS + 1 }, (_, k) => 7 + k * TLB_SETS); // all in set 7
    for (const f of frames) tlb.insert(t, 0, f, f + 1, f, 0x3f);
    expect(tlb.size).toBe(TLB_WAYS);
    const present = frames.filter((f) => out(tlb, t, f) !== null);
    expect(present).toHaveLength(TLB_WAYS);
    expect(present).toContain(frames.at(-1)); // the newest fill is always there
  });

  it('never holds more than TLB_CAPACITY entries', () => {
    const tlb = new Tlb();
    const t = s2Tag(2);
    for (let f = 0; f < TLB_CAPACITY + 5000; f++) tlb.insert(t, 0, f * 3, f, f, 0x3f);
    expect(tlb.size).toBe(TLB_CAPACITY);
    expect(tlb.tagList()).toEqual([{ kind: 's2', vmid: 2, asid: 0, entries: TLB_CAPACITY }]);
  });

  it('a context invalidation drops that context only, and a refill works; other contexts keep their entries', () => {
    const tlb = new Tlb();
    const a = nhTag(4, 1);
    const b = nhTag(4, 2);
    const c = s2Tag(5);
    for (const t of [a, b, c]) for (let f = 0; f < 8; f++) tlb.insert(t, 0, f, 0x100 + f, f, 0x3f);
    tlb.invalidateAsid(4, 1);
    expect(out(tlb, a, 3)).toBeNull();
    expect(out(tlb, b, 3)).toBe(0x103);
    expect(tlb.size).toBe(16);
    tlb.insert(a, 0, 3, 0x203, 3, 0x3f);
    expect(out(tlb, a, 3)).toBe(0x203);
    expect(out(tlb, a, 4)).toBeNull(); // the old generation stays dead
    tlb.invalidateNhVmid(4);
    expect([out(tlb, a, 3), out(tlb, b, 3), out(tlb, c, 3)]).toEqual([null, null, 0x103]);
    tlb.invalidateVmid(5);
    expect(tlb.size).toBe(0);
    expect(tlb.tagList()).toEqual([]);
  });

  it('TLBI_NSNH_ALL frees every context; reused slots never bring old entries back', () => {
    const tlb = new Tlb();
    const a = s2Tag(1);
    const b = s2Tag(2);
    for (let f = 0; f < 4; f++) tlb.insert(a, 0, f, 0x100 + f, f, 0x3f);
    tlb.invalidateAll();
    expect(tlb.size).toBe(0);
    tlb.insert(b, 0, 9, 0x909, 9, 0x3f); // takes the slot `a` had
    for (let f = 0; f < 4; f++) {
      expect(out(tlb, a, f)).toBeNull();
      expect(out(tlb, b, f)).toBeNull();
    }
    expect(out(tlb, b, 9)).toBe(0x909);
    expect(tlb.size).toBe(1);
  });

  it('TLBI by address: probing the range or sweeping the array drops exactly the overlapping leaves', () => {
    for (const wide of [false, true]) {
      const tlb = new Tlb();
      const t = s2Tag(1);
      for (let f = 0x100; f < 0x140; f++) tlb.insert(t, 0, f, f + 0x1000, f, 0x3f);
      tlb.insert(t, 9, 0x400, 0x8000, 0x400, 0x3f); // a 2 MiB block at frames 0x400..0x5ff
      // Narrow: 16 pages (fewer than the 65 entries: each is probed). Wide: a range far larger
      // than the entries (one sweep of the array).
      if (wide) tlb.invalidateIpa(1, 0x130, 0x1_0000);
      else tlb.invalidateIpa(1, 0x110, 16);
      const kept = [...Array(0x40).keys()].map((k) => 0x100 + k).filter((f) => out(tlb, t, f) !== null);
      if (wide) {
        expect(kept).toEqual([...Array(0x30).keys()].map((k) => 0x100 + k));
        expect(out(tlb, t, 0x500)).toBeNull(); // the block overlaps the range
      } else {
        expect(kept).toEqual([...Array(0x40).keys()].map((k) => 0x100 + k).filter((f) => f < 0x110 || f >= 0x120));
        expect(out(tlb, t, 0x500)).toBe(0x8100);
      }
      expect(tlb.size).toBe(wide ? 0x30 : 0x40 - 16 + 1);
    }
  });

  it('TLBI_NH_VAA reaches every ASID of the VMID and no other VMID', () => {
    const tlb = new Tlb();
    const tags = [nhTag(4, 1), nhTag(4, 2), nhTag(6, 1)];
    for (const t of tags) tlb.insert(t, 0, 0x10, 0x99, 0x10, 0x3f);
    tlb.invalidateVa(4, null, 0x10, 1);
    expect(tags.map((t) => out(tlb, t, 0x10))).toEqual([null, null, 0x99]);
  });

  it('counts hits and misses per lookup', () => {
    const tlb = new Tlb();
    const t = s2Tag(1);
    out(tlb, t, 1);
    tlb.insert(t, 0, 1, 2, 1, 0x3f);
    out(tlb, t, 1);
    out(tlb, t, 1);
    expect([tlb.hits, tlb.misses]).toEqual([2, 1]);
  });
});
