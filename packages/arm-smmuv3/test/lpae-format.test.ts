import { describe, expect, it } from 'vitest';
import { AllocInjector, EntryKind, HostMemory, PROT_READ, PROT_WRITE, RadixPageTable, contiguousRuns, inputBits, rawEntry, tableFrames } from '@ioasid/core';
import {
  LpaeFormat,
  lpaeStage1Format,
  lpaeStage2Format,
  sl0Encode,
  stage1Geometry,
  stage2Geometry,
  stage2FromVtcr,
} from '../src/index.js';

const RW = PROT_READ | PROT_WRITE;

/** Writes one leaf with the format into a scratch entry and returns the 64-bit value. */
function leaf(fmt: LpaeFormat, level: number, frame: number, prot: number): bigint {
  const w = new Uint32Array(2);
  fmt.setLeaf(w, 0, level, frame, prot);
  return rawEntry(fmt, w, 0);
}

describe('LPAE descriptors — golden vectors (Linux drivers/iommu/io-pgtable-arm.c ARM_LPAE_PTE_*)', () => {
  // Stage 1 leaf = PA | TYPE | AttrIndx=1 (ARM_LPAE_MAIR_ATTR_IDX_CACHE) | AP_UNPRIV | SH_IS | AF | nG
  it('4K stage 1 page, read/write: TYPE_PAGE 0b11, ATTRINDX 1<<2, AP_UNPRIV 1<<6, SH_IS 3<<8, AF 1<<10, nG 1<<11', () => {
    expect(leaf(lpaeStage1Format(4096, 48), 0, 0x12345, RW)).toBe(0x0000_0000_1234_5f47n);
  });
  it('4K stage 1 page, read-only adds AP_RDONLY (2<<6)', () => {
    expect(leaf(lpaeStage1Format(4096, 48), 0, 0x12345, PROT_READ)).toBe(0x0000_0000_1234_5fc7n);
  });
  it('4K stage 1 2 MiB block at LPAE level 2: TYPE_BLOCK 0b01', () => {
    expect(leaf(lpaeStage1Format(4096, 48), 1, 0x40000, RW)).toBe(0x0000_0000_4000_0f45n);
  });
  it('4K stage 1 1 GiB block at LPAE level 1 with an address above 4 GiB (OA bits 47:30)', () => {
    expect(leaf(lpaeStage1Format(4096, 48), 2, 0x140000, RW)).toBe(0x0000_0001_4000_0f45n);
  });
  it('4K stage 1 page with OA bits 47:32 set', () => {
    expect(leaf(lpaeStage1Format(4096, 48), 0, 0x3abc_def01, RW)).toBe(0x0000_3abc_def0_1f47n);
  });
  // Stage 2 leaf = PA | TYPE | MEMATTR_OIWB (0xf<<2) | HAP_READ (1<<6) | HAP_WRITE (2<<6) | SH_IS | AF
  it('4K stage 2 page, read/write: MEMATTR_OIWB, HAP_READ|HAP_WRITE, SH_IS, AF', () => {
    expect(leaf(lpaeStage2Format(4096, 48), 0, 0x12345, RW)).toBe(0x0000_0000_1234_57ffn);
  });
  it('4K stage 2 page, read-only: HAP_READ only', () => {
    expect(leaf(lpaeStage2Format(4096, 48), 0, 0x12345, PROT_READ)).toBe(0x0000_0000_1234_577fn);
  });
  it('4K stage 2 page, write-only: HAP_WRITE only', () => {
    expect(leaf(lpaeStage2Format(4096, 48), 0, 0x12345, PROT_WRITE)).toBe(0x0000_0000_1234_57bfn);
  });
  it('16K stage 1 page (OA bits 47:14) and 32 MiB block at LPAE level 2', () => {
    const f = lpaeStage1Format(16384, 48);
    expect(leaf(f, 0, 0x12348, RW)).toBe(0x0000_0000_1234_8f47n);
    expect(leaf(f, 1, 0x42000, RW)).toBe(0x0000_0000_4200_0f45n);
  });
  it('64K stage 1 page (OA bits 47:16) and 512 MiB block at LPAE level 2', () => {
    const f = lpaeStage1Format(65536, 48);
    expect(leaf(f, 0, 0x12350, RW)).toBe(0x0000_0000_1235_0f47n);
    expect(leaf(f, 1, 0x60000, RW)).toBe(0x0000_0000_6000_0f45n);
  });
  it('64K stage 2 page', () => {
    expect(leaf(lpaeStage2Format(65536, 48), 0, 0x12350, RW)).toBe(0x0000_0000_1235_07ffn);
  });
  it('table descriptor: next-level address | ARM_LPAE_PTE_TYPE_TABLE (0b11), nothing else', () => {
    const w = new Uint32Array(2);
    const f = lpaeStage1Format(4096, 48);
    f.setTable(w, 0, 2, 0x2_0001_2345);
    expect(rawEntry(f, w, 0)).toBe(0x0000_2000_1234_5003n);
  });
  it('a leaf refuses an output frame not aligned to the granule', () => {
    const w = new Uint32Array(2);
    expect(() => lpaeStage1Format(65536, 48).setLeaf(w, 0, 0, 0x12351, RW)).toThrow(/granule/);
  });
});

describe('LPAE descriptor decode (Arm ARM D8.3 field names)', () => {
  it('decodes a stage 1 leaf into AP, AttrIndx, SH, AF, nG', () => {
    const f = lpaeStage1Format(4096, 48);
    const d = f.decode(0x12345fc7, 0, 0);
    expect(d.kind).toBe('leaf');
    expect(d.addr).toBe(0x12345000n);
    expect(d.fields).toMatchObject({ type: 'page', AP: 3, AttrIndx: 1, SH: 3, AF: true, nG: true, UXN: false, PXN: false });
  });
  it('decodes a stage 2 leaf into S2AP, MemAttr, XN', () => {
    const d = lpaeStage2Format(4096, 48).decode(0x1234577f, 0x0060_0000, 0);
    expect(d.fields).toMatchObject({ type: 'page', S2AP: 1, MemAttr: 0xf, XN: 3, AF: true });
  });
  it('decodes a table entry with APTable / XNTable bits', () => {
    const d = lpaeStage1Format(4096, 48).decode(0x5003, 0x6000_0000 | 0x0000_2000, 2);
    expect(d.kind).toBe('table');
    expect(d.addr).toBe(0x2000_0000_5000n);
    expect(d.fields).toMatchObject({ APTable: 3, XNTable: false, NSTable: false });
  });
  it('a block descriptor where the granule has no block is invalid', () => {
    // 16K granule: LPAE level 1 (engine level 2) holds no blocks with a 48-bit OA.
    expect(lpaeStage1Format(16384, 48).decode(0x1, 0, 2).kind).toBe('invalid');
    expect(lpaeStage1Format(4096, 48).decode(0x1, 0, 2).kind).toBe('leaf');
  });
  it('engine kinds: 0b11 = table above level 3 and page at level 3; 0b01 block; 0bx0 empty', () => {
    const f = lpaeStage1Format(4096, 48);
    const w = new Uint32Array([3, 0, 1, 0, 2, 0]);
    expect(f.kind(w, 0, 1)).toBe(EntryKind.Table);
    expect(f.kind(w, 0, 0)).toBe(EntryKind.Leaf);
    expect(f.kind(w, 2, 1)).toBe(EntryKind.Leaf);
    expect(f.kind(w, 2, 0)).toBe(EntryKind.Empty);
    expect(f.kind(w, 4, 1)).toBe(EntryKind.Empty);
  });
});

describe('levels, start level and concatenation (Linux arm_64_lpae_alloc_pgtable_s1/_s2, ARM_LPAE_S2_MAX_CONCAT_PAGES 16)', () => {
  it('4K granule, 48-bit input: 4 levels from level 0 with 512 entries, both stages', () => {
    for (const g of [stage1Geometry(4096, 48), stage2Geometry(4096, 48)]) {
      expect(g).toMatchObject({ startLevel: 0, levels: 4, topBits: 9 });
    }
  });
  it('16K granule, 48-bit input: stage 1 starts at level 0 with 2 entries; stage 2 concatenates into level 1 (4096 entries, 32 KiB)', () => {
    expect(stage1Geometry(16384, 48)).toMatchObject({ startLevel: 0, levels: 4, topBits: 1 });
    expect(stage2Geometry(16384, 48)).toMatchObject({ startLevel: 1, levels: 3, topBits: 12 });
    expect(tableFrames(lpaeStage2Format(16384, 48), 2)).toBe(8);
  });
  it('64K granule, 48-bit input: 3 levels from level 1 with 64 entries', () => {
    expect(stage1Geometry(65536, 48)).toMatchObject({ startLevel: 1, levels: 3, topBits: 6 });
    expect(stage2Geometry(65536, 48)).toMatchObject({ startLevel: 1, levels: 3, topBits: 6 });
  });
  it('4K granule, 40-bit IPA: stage 2 starts at level 1 with two concatenated tables', () => {
    expect(stage2Geometry(4096, 40)).toMatchObject({ startLevel: 1, levels: 3, topBits: 10 });
  });
  it('VTCR.SL0 as Linux computes it (~sl & 3, sl+1 for 4K): 4K L0 → 2, L1 → 1; 16K/64K L1 → 2, L2 → 1', () => {
    expect(sl0Encode(4096, 0)).toBe(2);
    expect(sl0Encode(4096, 1)).toBe(1);
    expect(sl0Encode(16384, 1)).toBe(2);
    expect(sl0Encode(65536, 1)).toBe(2);
    expect(sl0Encode(65536, 2)).toBe(1);
  });
  it('stage2FromVtcr accepts what the builder programs and rejects an over-concatenated walk', () => {
    for (const [g, ias] of [[4096, 48], [16384, 48], [65536, 48], [4096, 40], [65536, 42]] as const) {
      const geo = stage2Geometry(g, ias);
      expect(stage2FromVtcr(g, 64 - ias, sl0Encode(g, geo.startLevel))).toEqual(geo);
    }
    // 4K, 48-bit IPA from level 1 would need 512 concatenated tables.
    expect(stage2FromVtcr(4096, 16, 1)).toBeNull();
  });
  it('engine input bits equal the input size for every granule and stage', () => {
    for (const g of [4096, 16384, 65536] as const) {
      for (const ias of [32, 40, 48]) {
        expect(inputBits(lpaeStage1Format(g, ias))).toBe(ias);
        expect(inputBits(lpaeStage2Format(g, ias))).toBe(ias);
      }
    }
  });
});

describe('the engine on LPAE formats', () => {
  it('maps 4K granule runs with 1 GiB / 2 MiB blocks where alignment allows and unmaps them', () => {
    const host = new HostMemory(new AllocInjector());
    const t = RadixPageTable.create(host, lpaeStage2Format(4096, 48));
    // 1 GiB + 2 MiB + 4 KiB, physically contiguous and 1 GiB aligned.
    const frames = 262144 + 512 + 1;
    t.map(0x40000, frames, contiguousRuns(0x100000, frames), RW);
    expect(t.lookup(0x40000)).toMatchObject({ frame: 0x100000, level: 2, shift: 30 });
    expect(t.lookup(0x40000 + 262144)).toMatchObject({ level: 1, shift: 21 });
    expect(t.lookup(0x40000 + 262144 + 512)).toMatchObject({ level: 0, shift: 12 });
    t.unmap(0x40000, frames);
    expect(t.lookup(0x40000)).toBeNull();
    expect(t.tableCount).toBe(1);
  });
  it('builds 16K and 64K tables in granule-sized, naturally aligned frames', () => {
    const host = new HostMemory(new AllocInjector());
    for (const g of [16384, 65536] as const) {
      const t = RadixPageTable.create(host, lpaeStage1Format(g, 48));
      t.map(0x1000, 64, contiguousRuns(0x20000, 64), RW);
      const steps = t.walk(0x1000 + 16);
      expect(steps.length).toBe(t.fmt.levels);
      for (const s of steps.slice(1)) expect(Number(s.tableAddr) % g).toBe(0);
      expect(t.lookup(0x1000 + 16)!.frame).toBe(0x20000 + 16);
    }
  });
});
