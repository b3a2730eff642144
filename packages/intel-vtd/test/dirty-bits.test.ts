/**
 * Second-stage accessed/dirty flags, bit by bit (issue 20): where SSADS, SSADE, A and D sit, and
 * what the walker writes into the tables in memory when SSADE = 1.
 *
 * Sources: Linux drivers/iommu/intel/iommu.h `ecap_slads(e)` = bit 45 of ECAP_REG (the spec's
 * SSADS, Second-Stage Accessed/Dirty Support), `DMA_SL_PTE_DIRTY_BIT` = 9 (read and cleared by
 * `dma_sl_pte_test_and_clear_dirty`); drivers/iommu/intel/pasid.h `pasid_set_ssade` /
 * `pasid_clear_ssade` = bit 9 of the PASID entry's first qword. The VT-d specification's
 * second-stage paging entries have A at bit 8 of every entry and D at bit 9 of a leaf, both
 * ignored unless SSADE is set in the PASID entry.
 */
import { describe, expect, it } from 'vitest';
import { PROT_READ, PROT_WRITE } from '@ioasid/core';
import {
  buildEcap, decodePasidEntry, decodeRegister, ECAP_SLADS, encodePasidEntry, PE_SLADE, PGTT_SL_ONLY, SecondLevelFormat, SL_A, SL_D,
} from '../src/index.js';
import { Hand } from './hand.js';
import { qwordAt } from './helpers.js';
import { traced } from './walk-support.js';

const HPA = 0x40000000n;
const A = BigInt(SL_A);
const D = BigInt(SL_D);

describe('golden bit positions', () => {
  it('ECAP_REG.SSADS is bit 45 (Linux ecap_slads) and this unit sets it', () => {
    expect(ECAP_SLADS).toMatchObject({ lsb: 45, width: 1 });
    expect((buildEcap() >> 45n) & 1n).toBe(1n);
    expect(decodeRegister('ECAP_REG', buildEcap()).SLADS).toBe(true);
  });

  it('PASID entry SSADE is bit 9 of qword 0 (Linux pasid_set_ssade)', () => {
    expect(PE_SLADE).toMatchObject({ lsb: 9, width: 1 });
    const base = { p: true, fpd: false, aw: 2, pgtt: PGTT_SL_ONLY, slptptr: 0x5000n, did: 3, pwsnp: false, pgsnp: false, sre: false, wpe: false, eafe: false, flpm: 0, flptptr: 0n };
    const off = encodePasidEntry({ ...base, slade: false });
    const on = encodePasidEntry({ ...base, slade: true });
    expect(on[0] ^ off[0]).toBe(0x200n);
    expect(on.slice(1)).toEqual(off.slice(1));
    expect(decodePasidEntry(on).slade).toBe(true);
  });

  it('second-stage A is bit 8, D is bit 9 (Linux DMA_SL_PTE_DIRTY_BIT); the format reads and clears D only', () => {
    expect(SL_A).toBe(0x100);
    expect(SL_D).toBe(0x200);
    const f = new SecondLevelFormat({ levels: 4 });
    const w = new Uint32Array(2);
    f.setLeaf(w, 0, 0, 0x1234, PROT_READ | PROT_WRITE);
    expect(f.dirty(w, 0)).toBe(false);
    w[0] |= SL_A | SL_D;
    expect(f.dirty(w, 0)).toBe(true);
    expect(f.decode(w[0], w[1], 0).fields).toMatchObject({ A: true, D: true });
    f.clearDirty(w, 0);
    expect(w[0] & (SL_A | SL_D)).toBe(SL_A);
    expect(f.outFrame(w, 0)).toBe(0x1234);
  });
});

/** A hand-built second-stage route with SSADE as given, 4 KiB pages at 0x10000 and a 2 MiB page at 0x200000. */
function route(ssade: boolean) {
  const h = new Hand();
  h.pasid(0, { slade: ssade });
  h.mapSl(0x10000n, HPA, 0x4000n);
  h.mapSl(0x200000n, HPA + 0x200000n, 0x200000n);
  const entry = (iova: bigint, level: number) => {
    const s = h.sl.walk(Number(iova >> 12n)).find((x) => x.level === level)!;
    return { addr: s.entryAddr, value: qwordAt(h.host, s.entryAddr) };
  };
  return { h, entry };
}

describe('the walker with SSADE = 1', () => {
  it('a read sets A in every entry it walked and D nowhere; a write sets D in the leaf, in memory', () => {
    const { h, entry } = route(true);
    h.dma(0x11000n);
    for (const level of [3, 2, 1, 0]) expect(entry(0x11000n, level).value & (A | D), `level ${level}`).toBe(A);
    expect(entry(0x12000n, 0).value & (A | D)).toBe(0n); // a neighbour the walk did not read
    h.dma(0x12000n, { write: true });
    expect(entry(0x12000n, 0).value & (A | D)).toBe(A | D);
    for (const level of [3, 2, 1]) expect(entry(0x12000n, level).value & D, `no D in the non-leaf at level ${level}`).toBe(0n);
    expect(entry(0x11000n, 0).value & D).toBe(0n);
  });

  it('a 2 MiB leaf takes A and D itself', () => {
    const { h, entry } = route(true);
    h.dma(0x3ff000n, { write: true });
    expect(entry(0x200000n, 1).value & (A | D)).toBe(A | D);
  });

  it('SSADE = 0: the walk leaves A and D alone (second-stage A/D are ignored)', () => {
    const { h, entry } = route(false);
    h.dma(0x11000n);
    h.dma(0x12000n, { write: true });
    for (const level of [3, 2, 1, 0]) expect(entry(0x12000n, level).value & (A | D)).toBe(0n);
  });

  it('a read fills the IOTLB with a clean entry: a later write walks to set D, then hits', () => {
    const { h, entry } = route(true);
    expect(h.dma(0x13000n)).toBe(Number((HPA + 0x3000n) >> 12n));
    expect(h.unit.iotlb.size).toBeGreaterThan(0);
    expect(entry(0x13000n, 0).value & D).toBe(0n);
    expect(h.dma(0x13000n, { write: true })).toBe(Number((HPA + 0x3000n) >> 12n));
    expect(entry(0x13000n, 0).value & D).toBe(D);
    // Software clears D without invalidating: the dirty IOTLB entry now serves writes (why
    // GET_DIRTY_BITMAP flushes after clearing).
    const leaf = entry(0x13000n, 0);
    h.host.write(Number(leaf.addr), new Uint8Array(new BigUint64Array([leaf.value & ~D]).buffer));
    h.dma(0x13000n, { write: true });
    expect(entry(0x13000n, 0).value & D).toBe(0n);
  });

  it('a read-only leaf never takes D: the write faults before it', () => {
    const { h, entry } = route(true);
    h.mapSl(0x400000n, HPA + 0x400000n, 0x1000n, PROT_READ);
    const r = h.dma(0x400000n, { write: true });
    expect(typeof r).toBe('object');
    expect(entry(0x400000n, 0).value & D).toBe(0n);
  });

  it('a traced walk (no side effect) writes no A or D, with or without caches', () => {
    const { h, entry } = route(true);
    for (const caches of [false, true]) {
      traced(h.unit, { rid: 0x08, pasid: -1, iovaFrame: 0x11, write: true, privileged: false }, caches);
      traced(h.unit, { rid: 0x08, pasid: -1, iovaFrame: 0x200, write: true, privileged: false }, caches);
    }
    for (const level of [3, 2, 1, 0]) expect(entry(0x11000n, level).value & (A | D)).toBe(0n);
    expect(entry(0x200000n, 1).value & (A | D)).toBe(0n);
    expect(h.unit.iotlb.size).toBe(0);
  });
});

describe('the walker with SSADE = 1 under nesting (PGTT = 011b)', () => {
  it('first-stage table fetches are reads (A only); the unit writing a first-stage A/D is a write (D); the output write sets D', () => {
    const h = new Hand();
    // Guest RAM in two 2 MiB second-stage leaves: first-stage tables at GPA 2 MiB, data at GPA 6 MiB.
    h.mapSl(0x200000n, HPA + 0x200000n, 0x200000n);
    h.mapSl(0x600000n, HPA + 0x600000n, 0x200000n);
    const w = (gpa: bigint, v: bigint) => h.host.write(Number(HPA + gpa), new Uint8Array(new BigUint64Array([v]).buffer));
    const T = 0x27n; // P | RW | US | A
    w(0x200000n, 0x201000n | T);
    w(0x201000n, 0x202000n | T);
    w(0x202000n, 0x203000n | T);
    w(0x203000n + 5n * 8n, 0x600000n | 0x67n); // GVA 0x5000 → GPA 6 MiB, A and D already set
    w(0x203000n + 6n * 8n, 0x601000n | 0x07n); // GVA 0x6000 → GPA 6 MiB + 4 KiB, A clear
    h.pasid(0, { pgtt: 3, flptptr: 0x200000n, slade: true });
    const ss = (gpa: bigint) => qwordAt(h.host, h.sl.walk(Number(gpa >> 12n)).at(-1)!.entryAddr) & (A | D);
    expect(h.dma(0x5000n)).toBe(Number((HPA + 0x600000n) >> 12n));
    expect(ss(0x200000n)).toBe(A);
    expect(ss(0x600000n)).toBe(A);
    h.dma(0x5000n, { write: true });
    expect(ss(0x600000n)).toBe(A | D);
    expect(ss(0x200000n)).toBe(A);
    h.dma(0x6000n); // the unit sets A in the guest's PTE: a write to the table's page
    expect(ss(0x200000n)).toBe(A | D);
  });
});
