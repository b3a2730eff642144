/**
 * Hardware dirty state (SMMU_IDR0.HTTU = 2) on the unit alone: golden bit positions, and what a
 * walk writes to memory. Sources: Linux drivers/iommu/io-pgtable-arm.c (ARM_LPAE_PTE_DBM,
 * ARM_LPAE_PTE_AP_RDONLY, ARM_LPAE_PTE_HAP_*, iopte_writeable_dirty, iopte_set_writeable_clean),
 * drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h (IDR0_HTTU, CTXDESC_CD_0_TCR_HA/HD), QEMU
 * hw/arm/smmuv3-internal.h (STE_S2HD / STE_S2HA: word[5] bits 23 / 24), SMMUv3 §5.2 (STE.S2HD
 * bit 183, S2HA bit 184), §5.4 (CD.HD bit 42, HA bit 43), Arm ARM D8.4 (DBM, bit 51).
 */
import { describe, expect, it } from 'vitest';
import { dwField, type FaultRecord, type RadixPageTable } from '@ioasid/core';
import {
  AF,
  CD,
  HI_DBM,
  HTTU_ACCESS_DIRTY,
  IDR0,
  OP,
  S1_AP_RDONLY,
  S2_AP_READ,
  S2_AP_WRITE,
  STE,
  decodeCd,
  decodeSte,
  encodeSte,
  lpaeIsDirty,
  lpaeStage1Format,
  lpaeStage2Format,
  s1Cd,
  s2Ste,
  type LpaeFormat,
} from '../src/index.js';
import { bareUnit, hostTable, isFault, mapRange, s2Of } from './hw-harness.js';

/** The 64-bit descriptor the engine left at the leaf of `iova`. */
function leafOf(b: ReturnType<typeof bareUnit>, t: RadixPageTable, iova: number): { addr: number; value: bigint } {
  const steps = t.walk(iova / 4096);
  const addr = Number(steps[steps.length - 1].entryAddr);
  return { addr, value: BigInt(b.host.u32(addr)) | (BigInt(b.host.u32(addr + 4)) << 32n) };
}

function tracking(b: ReturnType<typeof bareUnit>, stage: 1 | 2): RadixPageTable {
  const t = hostTable(b.host, stage);
  (t.fmt as LpaeFormat).trackDirty = true;
  return t;
}

describe('golden bits', () => {
  it('descriptor bits: DBM 51, stage 1 AP[2] 7, stage 2 S2AP[1:0] 7:6, AF 10', () => {
    expect(BigInt(HI_DBM) << 32n).toBe(1n << 51n);
    expect(S1_AP_RDONLY).toBe(1 << 7);
    expect(S2_AP_READ).toBe(1 << 6);
    expect(S2_AP_WRITE).toBe(1 << 7);
    expect(AF).toBe(1 << 10);
  });

  it('CD.HD bit 42, CD.HA bit 43; STE.S2HD bit 183 (dword 2 bit 55), S2HA bit 184; IDR0.HTTU bits 7:6', () => {
    expect(CD.HD).toEqual(dwField('HD', 0, 42));
    expect(CD.HA).toEqual(dwField('HA', 0, 43));
    expect(STE.S2HD).toEqual(dwField('S2HD', 2, 55));
    expect(STE.S2HA).toEqual(dwField('S2HA', 2, 56));
    expect(IDR0.HTTU).toEqual(dwField('HTTU', 0, 7, 6));
    expect(HTTU_ACCESS_DIRTY).toBe(2);
    expect(bareUnit().unit.registers().IDR0 & 0xc0n).toBe(0x80n);
    expect(bareUnit({ httu: 0 }).unit.registers().IDR0 & 0xc0n).toBe(0n);
  });

  it('leaves written while tracking are writable-clean (DBM 1, write permission off); read-only leaves get no DBM', () => {
    const w = new Uint32Array(2);
    const s1 = lpaeStage1Format(4096, 48);
    const s2 = lpaeStage2Format(4096, 48);
    const q = (): bigint => BigInt(w[0]) | (BigInt(w[1]) << 32n);
    s1.setLeaf(w, 0, 0, 0x12345, 3);
    expect(q()).toBe(0x0000_0000_1234_5f47n); // AP[2] = 0, no DBM (tracking off)
    s1.trackDirty = true;
    s1.setLeaf(w, 0, 0, 0x12345, 3);
    expect(q()).toBe(0x0008_0000_1234_5fc7n); // DBM bit 51, AP[2] bit 7 = 1: writable-clean
    expect(s1.perms(w, 0, 0)).toBe(3);
    expect(s1.dirty(w, 0, 0)).toBe(false);
    s1.setLeaf(w, 0, 0, 0x12345, 1);
    expect(q()).toBe(0x0000_0000_1234_5fc7n); // read-only: AP[2] = 1 and no DBM
    s2.trackDirty = true;
    s2.setLeaf(w, 0, 1, 0x1c00, 3); // a 2 MiB block
    expect(q()).toBe(0x0008_0000_01c0_077dn); // S2AP = 0b01 (write off), DBM set
    w[0] |= S2_AP_WRITE; // what the unit writes on a write
    expect(s2.dirty(w, 0, 1)).toBe(true);
    s2.clearDirty(w, 0, 1);
    expect(q()).toBe(0x0008_0000_01c0_077dn);
    expect(lpaeIsDirty(2, w, 0, 1)).toBe(false);
  });
});

describe('the walk writes dirty state to memory (STE.S2HD)', () => {
  function s2Unit() {
    const b = bareUnit();
    const t = tracking(b, 2);
    mapRange(t, 0x1000, 0x5000_0000, 0x1000);
    mapRange(t, 0x4000_0000, 0x6000_0000, 0x200000); // one 2 MiB block
    b.writeSte(8, s2Ste({ ...s2Of(t), hd: true }, false));
    return { b, t };
  }

  it('a read leaves the writable-clean page as it is; a write makes it writable-dirty in memory and proceeds', () => {
    const { b, t } = s2Unit();
    const before = leafOf(b, t, 0x1000).value;
    expect(before & (1n << 51n)).not.toBe(0n);
    expect(before & 0x80n).toBe(0n);
    expect(b.dma(8, 0x1234)).toBe(0x50000);
    expect(leafOf(b, t, 0x1000).value).toBe(before);
    // The TLB entry the read filled grants no write: the write walks again and updates the leaf.
    expect(b.dma(8, 0x1234, { write: true })).toBe(0x50000);
    expect(leafOf(b, t, 0x1000).value).toBe(before | 0x80n);
    expect(b.events()).toEqual([]);
  });

  it('a 2 MiB block is dirtied as a whole; bytes beside the leaf are untouched', () => {
    const { b, t } = s2Unit();
    const { addr, value } = leafOf(b, t, 0x4000_0000);
    const around = [b.host.u32(addr - 8), b.host.u32(addr + 8)];
    expect(b.dma(8, 0x4012_3456, { write: true })).toBe(0x60123);
    expect(leafOf(b, t, 0x4000_0000).value).toBe(value | 0x80n);
    expect([b.host.u32(addr - 8), b.host.u32(addr + 8)]).toEqual(around);
  });

  it('without S2HD (or with HTTU = 0 and no HD in the STE) a writable-clean leaf is read-only: a write faults and nothing is written', () => {
    const b = bareUnit({ httu: 0 });
    const t = tracking(b, 2);
    mapRange(t, 0x1000, 0x5000_0000, 0x1000);
    b.writeSte(8, s2Ste(s2Of(t), false));
    const before = leafOf(b, t, 0x1000).value;
    expect((b.dma(8, 0x1000, { write: true }) as FaultRecord).name).toBe('F_PERMISSION');
    expect(leafOf(b, t, 0x1000).value).toBe(before);
  });

  it('S2HD with SMMU_IDR0.HTTU < 2 is ILLEGAL (C_BAD_STE)', () => {
    const b = bareUnit({ httu: 1 });
    const t = tracking(b, 2);
    mapRange(t, 0x1000, 0x5000_0000, 0x1000);
    b.writeSte(8, s2Ste({ ...s2Of(t), hd: true }, false));
    const r = b.dma(8, 0x1000, { write: true });
    expect(isFault(r) && r.name).toBe('C_BAD_STE');
    expect(decodeSte(s2Ste({ ...s2Of(t), hd: true }, false))).toMatchObject({ S2HA: 1, S2HD: 1 });
  });
});

describe('stage 1 (CD.HA/HD), as Linux tracks its stage 1 domains', () => {
  function s1Unit(hd: boolean) {
    const b = bareUnit();
    const t = tracking(b, 1);
    mapRange(t, 0x10000, 0x5000_0000, 0x1000);
    const cd = b.host.allocFrame() * 4096;
    b.writeWords(cd, s1Cd({ ttb0: t.root * 4096, granule: 4096, ias: 48, asid: 1, ipsBits: 48, hd }));
    b.writeSte(8, encodeSte({ V: 1, Config: 5, S1ContextPtr: cd, S1STALLD: 1 }));
    return { b, t, cd };
  }

  it('CD.HD: a write clears AP[2] of the writable-clean leaf in memory; a read does not', () => {
    const { b, t, cd } = s1Unit(true);
    expect(decodeCd(new Uint32Array(Array.from({ length: 16 }, (_, k) => b.host.u32(cd + 4 * k))))).toMatchObject({ HA: 1, HD: 1 });
    const before = leafOf(b, t, 0x10000).value;
    expect(before & 0x80n).toBe(0x80n);
    expect(b.dma(8, 0x10008)).toBe(0x50000);
    expect(leafOf(b, t, 0x10000).value).toBe(before);
    expect(b.dma(8, 0x10008, { write: true })).toBe(0x50000);
    const after = leafOf(b, t, 0x10000).value;
    expect(after).toBe(before & ~0x80n);
    expect(lpaeIsDirty(1, new Uint32Array([Number(after & 0xffffffffn), Number(after >> 32n)]), 0, 0)).toBe(true);
  });

  it('without CD.HD the same leaf faults on a write (DBM is ignored)', () => {
    const { b, t } = s1Unit(false);
    const before = leafOf(b, t, 0x10000).value;
    b.cmd([OP.TLBI_NSNH_ALL, {}]);
    expect((b.dma(8, 0x10000, { write: true }) as FaultRecord).name).toBe('F_PERMISSION');
    expect(leafOf(b, t, 0x10000).value).toBe(before);
  });

  it('CD.HA: a leaf with AF = 0 gets AF set by the walk instead of an Access flag fault', () => {
    const { b, t } = s1Unit(true);
    const { addr, value } = leafOf(b, t, 0x10000);
    b.host.write(addr, new Uint8Array(new Uint32Array([Number(value & 0xffffffffn) & ~AF]).buffer));
    expect(b.dma(8, 0x10000)).toBe(0x50000);
    expect(b.host.u32(addr) & AF).toBe(AF);
  });
});

describe('a traced walk writes nothing', () => {
  it('unit.walk of a write through a writable-clean leaf reports write allowed and leaves memory unchanged', () => {
    const b = bareUnit();
    const t = tracking(b, 2);
    mapRange(t, 0x1000, 0x5000_0000, 0x1000);
    b.writeSte(8, s2Ste({ ...s2Of(t), hd: true }, false));
    const before = leafOf(b, t, 0x1000).value;
    const reads: unknown[] = [];
    let perms: { read: boolean; write: boolean } | undefined;
    const tracer = {
      read: (r: unknown) => {
        reads.push(r);
        return r as never;
      },
      probe: () => {},
      begin: () => {},
      end: () => {},
      leaf: (p: { read: boolean; write: boolean }) => {
        perms = p;
      },
    };
    const r = b.unit.walk({ rid: 8, pasid: -1, iovaFrame: 1, offset: 0, write: true, privileged: false }, tracer as never);
    expect(r).toBe(0x50000);
    expect(perms).toEqual({ read: true, write: true });
    expect(leafOf(b, t, 0x1000).value).toBe(before);
  });
});

describe('HTTU the unit does not offer is ILLEGAL', () => {
  it('CD.HD with SMMU_IDR0.HTTU = 1 and CD.HA with HTTU = 0 are C_BAD_CD', () => {
    for (const [httu, hd] of [[1, true], [0, true]] as const) {
      const b = bareUnit({ httu });
      const t = hostTable(b.host, 1);
      mapRange(t, 0x10000, 0x5000_0000, 0x1000);
      const cd = b.host.allocFrame() * 4096;
      b.writeWords(cd, s1Cd({ ttb0: t.root * 4096, granule: 4096, ias: 48, asid: 1, ipsBits: 48, hd }));
      b.writeSte(8, encodeSte({ V: 1, Config: 5, S1ContextPtr: cd, S1STALLD: 1 }));
      const r = b.dma(8, 0x10000);
      expect(isFault(r) && r.name).toBe('C_BAD_CD');
    }
  });
});
