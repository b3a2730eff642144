import { describe, expect, it } from 'vitest';
import { AllocInjector, HostMemory, toDwords, type BitField } from '@ioasid/core';
import {
  CD,
  CD_ADDR,
  CMD,
  CdTable,
  EVENT,
  EVT,
  L1CD,
  L1CD_L2PTR,
  L1STD,
  L1STD_L2PTR,
  OP,
  PRIQ,
  STE,
  STE_ADDR,
  StreamTable,
  cdDwords,
  decodeCd,
  decodeEvent,
  decodeSte,
  directSpace,
  encodeCd,
  encodeCommand,
  encodeEvent,
  encodePriq,
  encodeSte,
  steDwords,
} from '../src/index.js';
import { abortSte, nestedSte, s2Ste } from '../src/ste-builder.js';
import { s1Cd } from '../src/cd-builder.js';
import { stage2Geometry } from '../src/formats/lpae-geometry.js';

/** [dword, hi, lo] as the source gives the field (GENMASK_ULL(hi, lo) of dword n). */
type Pos = [number, number, number];
function pos(f: BitField): Pos {
  return [f.dw, f.lo + f.width - 1, f.lo];
}

describe('STE field positions — Linux arm-smmu-v3.h STRTAB_STE_*, QEMU smmuv3-internal.h STE_*', () => {
  const expected: Record<string, Pos> = {
    V: [0, 0, 0], // STRTAB_STE_0_V
    Config: [0, 3, 1], // STRTAB_STE_0_CFG
    S1Fmt: [0, 5, 4], // STRTAB_STE_0_S1FMT
    S1CDMax: [0, 63, 59], // STRTAB_STE_0_S1CDMAX
    S1DSS: [1, 1, 0], // STRTAB_STE_1_S1DSS
    S1CIR: [1, 3, 2],
    S1COR: [1, 5, 4],
    S1CSH: [1, 7, 6],
    S1STALLD: [1, 27, 27],
    EATS: [1, 29, 28],
    STRW: [1, 31, 30],
    SHCFG: [1, 45, 44],
    S2VMID: [2, 15, 0], // STRTAB_STE_2_S2VMID
    S2T0SZ: [2, 37, 32], // STRTAB_STE_2_VTCR (50:32) with VTCR_S2T0SZ 5:0
    S2SL0: [2, 39, 38],
    S2IR0: [2, 41, 40],
    S2OR0: [2, 43, 42],
    S2SH0: [2, 45, 44],
    S2TG: [2, 47, 46],
    S2PS: [2, 50, 48],
    S2AA64: [2, 51, 51],
    S2ENDI: [2, 52, 52],
    S2AFFD: [2, 53, 53], // QEMU STE_S2AFFD word[5] bit 21
    S2PTW: [2, 54, 54],
    S2HD: [2, 55, 55], // QEMU STE_S2HD word[5] bit 23
    S2HA: [2, 56, 56],
    S2S: [2, 57, 57],
    S2R: [2, 58, 58],
  };
  for (const [name, p] of Object.entries(expected)) {
    it(`${name} is dword ${p[0]} bits ${p[1]}:${p[2]}`, () => {
      expect(pos(STE[name as keyof typeof STE])).toEqual(p);
    });
  }
  it('S1ContextPtr is dword 0 bits 51:6 (STRTAB_STE_0_S1CTXPTR_MASK), S2TTB dword 3 bits 51:4 (STRTAB_STE_3_S2TTB_MASK)', () => {
    expect(pos(STE_ADDR.S1ContextPtr)).toEqual([0, 51, 6]);
    expect(pos(STE_ADDR.S2TTB)).toEqual([3, 51, 4]);
  });
});

describe('CD field positions — Linux CTXDESC_CD_*, QEMU CD_*', () => {
  const expected: Record<string, Pos> = {
    T0SZ: [0, 5, 0], // CTXDESC_CD_0_TCR_T0SZ
    TG0: [0, 7, 6],
    IRGN0: [0, 9, 8],
    ORGN0: [0, 11, 10],
    SH0: [0, 13, 12],
    EPD0: [0, 14, 14],
    ENDI: [0, 15, 15],
    EPD1: [0, 30, 30],
    V: [0, 31, 31],
    IPS: [0, 34, 32],
    AFFD: [0, 35, 35],
    TBI0: [0, 38, 38], // CTXDESC_CD_0_TCR_TBI0; QEMU CD_TBI word[1] bits 6..7
    AA64: [0, 41, 41],
    HD: [0, 42, 42],
    HA: [0, 43, 43],
    S: [0, 44, 44],
    R: [0, 45, 45],
    A: [0, 46, 46],
    ASET: [0, 47, 47],
    ASID: [0, 63, 48],
    HAD0: [1, 1, 1], // QEMU CD_HAD(x, 0): word[2] bit 1
    MAIR0: [3, 31, 0],
  };
  for (const [name, p] of Object.entries(expected)) {
    it(`${name} is dword ${p[0]} bits ${p[1]}:${p[2]}`, () => {
      expect(pos(CD[name as keyof typeof CD])).toEqual(p);
    });
  }
  it('TTB0 is dword 1 bits 51:4 (CTXDESC_CD_1_TTB0_MASK)', () => {
    expect(pos(CD_ADDR.TTB0)).toEqual([1, 51, 4]);
  });
});

describe('STE golden vectors (Linux arm_smmu_make_abort_ste / _s2_domain_ste / _cdtable_ste)', () => {
  it('abort STE: V | CFG_ABORT', () => {
    expect(steDwords(abortSte())).toEqual([1n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
  });
  it('stage 2 STE for VMID 5, 4K granule, 48-bit IPA, S2TTB 0x12345000', () => {
    const ste = s2Ste({ vmid: 5, geometry: stage2Geometry(4096, 48), ttb: 0x12345000, oasBits: 48 }, false);
    expect(steDwords(ste).slice(0, 4)).toEqual([
      0x0dn, // V | CFG_S2_TRANS (6 << 1)
      0x0000_1000_0000_0000n, // SHCFG_INCOMING << 44
      // VMID 5 | T0SZ 16<<32 | SL0 2<<38 | IR0 1<<40 | OR0 1<<42 | SH0 3<<44 | TG 0 | PS 5<<48 | S2AA64 | S2PTW | S2R
      0x044d_3590_0000_0005n,
      0x0000_0000_1234_5000n,
    ]);
  });
  it('stage 2 STE with ATS: EATS_TRANS (1 << 28)', () => {
    const ste = s2Ste({ vmid: 1, geometry: stage2Geometry(4096, 48), ttb: 0x1000, oasBits: 48 }, true);
    expect(steDwords(ste)[1]).toBe(0x0000_1000_1000_0000n);
  });
  it('nested STE with a two-level CD table at IPA 0x40001000, S1CDMax 20, S1DSS SSID0', () => {
    const ste = nestedSte(
      { ctxPtr: 0x40001000, s1fmt: 2, s1cdmax: 20, s1dss: 2, stallDisabled: true },
      { vmid: 9, geometry: stage2Geometry(16384, 48), ttb: 0x20000000, oasBits: 48 },
      false,
    );
    const d = steDwords(ste);
    expect(d[0]).toBe(0xa000_0000_4000_102fn); // S1CDMax 20<<59 | ctxptr | S1Fmt 2<<4 | CFG 7<<1 | V
    expect(d[1]).toBe(0x0000_1000_0800_00d6n); // SHCFG | S1STALLD | S1CSH 3<<6 | S1COR 1<<4 | S1CIR 1<<2 | S1DSS 2
    // 16K: T0SZ 16, SL0 2 (start level 1 with 8 concatenated tables... 4096 entries), TG 2<<46
    expect(d[2]).toBe(0x044d_b590_0000_0009n);
    expect(decodeSte(ste)).toMatchObject({ Config: 7, S1ContextPtr: 0x40001000, S2TG: 2, S2SL0: 2, S2VMID: 9, S2TTB: 0x20000000 });
  });
  it('encode and decode agree on every field', () => {
    const v = { V: 1, Config: 5, S1Fmt: 1, S1CDMax: 31, S1DSS: 3, S1STALLD: 1, EATS: 2, S2VMID: 0xffff, S2T0SZ: 63, S2PS: 7, S2R: 1, S1ContextPtr: 0xf_ffff_ffff_ffc0, S2TTB: 0xf_ffff_ffff_fff0 };
    expect(decodeSte(encodeSte(v))).toMatchObject(v);
  });
});

describe('CD golden vector (Linux arm_smmu_make_s1_cd)', () => {
  it('4K granule, 48-bit VA, ASID 1, TTB0 0x87654000, MAIR 0xf404ff44', () => {
    const cd = s1Cd({ ttb0: 0x87654000, granule: 4096, ias: 48, asid: 1, ipsBits: 48 });
    expect(cdDwords(cd).slice(0, 4)).toEqual([
      // ASID 1<<48 | ASET | A | R | AA64 | IPS 5<<32 | V | EPD1 | SH0 3<<12 | ORGN0 1<<10 | IRGN0 1<<8 | TG0 0 | T0SZ 16
      0x0001_e205_c000_3510n,
      0x0000_0000_8765_4000n,
      0n,
      0x0000_0000_f404_ff44n,
    ]);
  });
  it('64K granule CD: TG0 0b01; 16K granule: TG0 0b10', () => {
    expect(decodeCd(s1Cd({ ttb0: 0x10000, granule: 65536, ias: 48, asid: 2, ipsBits: 48 })).TG0).toBe(1);
    expect(decodeCd(s1Cd({ ttb0: 0x10000, granule: 16384, ias: 39, asid: 2, ipsBits: 44 }))).toMatchObject({ TG0: 2, T0SZ: 25, IPS: 4 });
  });
  it('encode and decode agree on every field', () => {
    const v = { T0SZ: 39, TG0: 2, EPD0: 1, V: 1, IPS: 6, AFFD: 1, AA64: 1, S: 1, R: 1, A: 1, ASID: 0xfffe, TTB0: 0xf_ffff_ffff_fff0 };
    expect(decodeCd(encodeCd(v))).toMatchObject(v);
  });
});

describe('L1 descriptors (Linux STRTAB_L1_DESC_*, CTXDESC_L1_DESC_*; QEMU L1STD_SPAN, l1std_l2ptr)', () => {
  it('L1STD: Span 4:0, L2Ptr 51:6; L1CD: V bit 0, L2Ptr 51:12', () => {
    expect(pos(L1STD.Span)).toEqual([0, 4, 0]);
    expect(pos(L1STD_L2PTR)).toEqual([0, 51, 6]);
    expect(pos(L1CD.V)).toEqual([0, 0, 0]);
    expect(pos(L1CD_L2PTR)).toEqual([0, 51, 12]);
  });
  it('the two-level stream table writes Span = STRTAB_SPLIT + 1 = 9 and the leaf address', () => {
    const host = new HostMemory(new AllocInjector());
    const st = new StreamTable(host, { twoLevel: true, log2size: 16 });
    st.ensure(0x0310);
    const l1 = host.u64(st.baseAddr + 3 * 8);
    expect(l1 & 0x1fn).toBe(9n);
    const leaf = Number(l1 & ~0x3fn);
    expect(leaf % 16384).toBe(0);
    expect(st.steAddr(0x0310)).toBe(leaf + 0x10 * 64);
    expect(host.u64(st.baseAddr)).toBe(0n); // bus 0 not allocated
  });
  it('a linear stream table holds STEs at base + 64·sid', () => {
    const host = new HostMemory(new AllocInjector());
    const st = new StreamTable(host, { twoLevel: false, log2size: 8 });
    st.writeSte(0x42, abortSte());
    expect(st.steAddr(0x42)).toBe(st.baseAddr + 0x42 * 64);
    expect(host.u64(st.baseAddr + 0x42 * 64)).toBe(1n);
  });
  it('a two-level CD table writes V | L2Ptr and puts CD n at leaf + 64·(n mod 1024)', () => {
    const host = new HostMemory(new AllocInjector());
    const t = CdTable.create(directSpace(host), 'two-level', 20);
    expect(t.s1fmt).toBe(2);
    const cd = s1Cd({ ttb0: 0x5000, granule: 4096, ias: 48, asid: 3, ipsBits: 48 });
    t.write(2049, cd);
    const d = t.l1Descriptor(2);
    expect(d.valid).toBe(true);
    expect(host.u64(t.addr + 16)).toBe(BigInt(d.l2ptr) | 1n);
    expect(host.u64(d.l2ptr + 1 * 64 + 8)).toBe(0x5000n);
    expect(t.l1Descriptor(0).valid).toBe(false);
    expect(toDwords(t.read(2049), 8)).toEqual(cdDwords(cd));
  });
  it('a linear CD table of 2^S1CDMax entries', () => {
    const host = new HostMemory(new AllocInjector());
    const t = CdTable.create(directSpace(host), 'linear', 7);
    expect(t.frames).toBe(2);
    t.write(100, s1Cd({ ttb0: 0x9000, granule: 4096, ias: 48, asid: 3, ipsBits: 48 }));
    expect(host.u64(t.addr + 100 * 64 + 8)).toBe(0x9000n);
    expect(() => t.write(128, new Uint32Array(16))).toThrow(/S1CDMax/);
  });
});

describe('command encodings — Linux CMDQ_OP_* and arm_smmu_cmdq_build_cmd fields', () => {
  const dw = (w: Uint32Array) => toDwords(w, 2);
  it('opcodes', () => {
    expect(OP).toMatchObject({ CFGI_STE: 0x3, CFGI_ALL: 0x4, CFGI_CD: 0x5, CFGI_CD_ALL: 0x6, TLBI_NH_ALL: 0x10, TLBI_NH_ASID: 0x11, TLBI_NH_VA: 0x12, TLBI_S12_VMALL: 0x28, TLBI_S2_IPA: 0x2a, TLBI_NSNH_ALL: 0x30, ATC_INV: 0x40, PRI_RESP: 0x41, RESUME: 0x44, SYNC: 0x46 });
  });
  it('CFGI_STE: SID 63:32 (CMDQ_CFGI_0_SID), Leaf dword 1 bit 0', () => {
    expect(dw(encodeCommand(OP.CFGI_STE, { SID: 0x10, LEAF: 1 }))).toEqual([0x0000_0010_0000_0003n, 1n]);
  });
  it('CFGI_CD: SSID 31:12 (CMDQ_CFGI_0_SSID)', () => {
    expect(dw(encodeCommand(OP.CFGI_CD, { SID: 8, SSID: 0xfffff, LEAF: 1 }))).toEqual([0x0000_0008_ffff_f005n, 1n]);
  });
  it('TLBI_NH_VA: ASID 63:48, VMID 47:32, NUM 16:12, SCALE 24:20; Leaf, TTL 9:8, TG 11:10, VA 63:12', () => {
    expect(dw(encodeCommand(OP.TLBI_NH_VA, { VMID: 5, ASID: 7, NUM: 3, SCALE: 2, LEAF: 1, TG: 1, ADDR: 0x12345 }))).toEqual([
      0x0007_0005_0020_3012n,
      0x0000_0000_1234_5401n,
    ]);
  });
  it('TLBI_S2_IPA: IPA 51:12 (CMDQ_TLBI_1_IPA_MASK)', () => {
    expect(pos(CMD.IPA)).toEqual([1, 51, 12]);
    expect(dw(encodeCommand(OP.TLBI_S2_IPA, { VMID: 2, IPA: 0x8_0000_0000 }))).toEqual([0x0000_0002_0000_002an, 0x0000_8000_0000_0000n]);
  });
  it('ATC_INV: SSV 11, SSID, SID, Global 9; Size 5:0 (ATC_INV_SIZE_ALL 52)', () => {
    expect(dw(encodeCommand(OP.ATC_INV, { SID: 8, SSID: 3, SSV: 1, ATC_SIZE: 52 }))).toEqual([0x0000_0008_0000_3840n, 0x34n]);
  });
  it('PRI_RESP: GRPID 8:0, RESP 13:12 (CMDQ_PRI_1_*); RESUME: RESP 13:12 of dword 0, STAG dword 1 (CMDQ_RESUME_*)', () => {
    expect(dw(encodeCommand(OP.PRI_RESP, { SID: 8, SSID: 1, SSV: 1, GRPID: 5, PRI_RESP: 2 }))).toEqual([0x0000_0008_0000_1841n, 0x2005n]);
    expect(dw(encodeCommand(OP.RESUME, { SID: 8, RESUME_RESP: 1, STAG: 9 }))).toEqual([0x0000_0008_0000_1044n, 9n]);
  });
  it('CMD_SYNC with CS NONE is the bare opcode', () => {
    expect(dw(encodeCommand(OP.SYNC, { CS: 0 }))).toEqual([0x46n, 0n]);
  });
});

describe('event and PRI records — QEMU SMMUEventType / EVT_SET_*, Linux EVTQ_* / PRIQ_*', () => {
  it('event numbers', () => {
    expect(EVENT).toMatchObject({
      C_BAD_STREAMID: 0x02, F_STE_FETCH: 0x03, C_BAD_STE: 0x04, F_STREAM_DISABLED: 0x06, C_BAD_SUBSTREAMID: 0x08,
      F_CD_FETCH: 0x09, C_BAD_CD: 0x0a, F_WALK_EABT: 0x0b, F_TRANSLATION: 0x10, F_ADDR_SIZE: 0x11, F_ACCESS: 0x12,
      F_PERMISSION: 0x13, F_CFG_CONFLICT: 0x21,
    });
  });
  it('F_TRANSLATION on stage 2: SSV, SSID, SID; RnW 35, S2 39, CLASS 41:40; ADDR dword 2; IPA 51:12 dword 3', () => {
    const w = encodeEvent({ TYPE: 0x10, SSV: 1, SSID: 3, SID: 8, RnW: 1, S2: 1, CLASS: 2, ADDR: 0x12345000, IPA: 0x6789a });
    expect(toDwords(w, 4)).toEqual([0x0000_0008_0000_3810n, 0x0000_0288_0000_0000n, 0x12345000n, 0x6789a000n]);
    expect(decodeEvent(w)).toMatchObject({ TYPE: 0x10, SID: 8, SSID: 3, S2: 1, CLASS: 2 });
    expect(pos(EVT.STALL)).toEqual([1, 31, 31]);
    expect(pos(EVT.STAG)).toEqual([1, 15, 0]);
  });
  it('PRI queue entry: SID 31:0, SSID 51:32, PERM_READ 60, PRG_LAST 62, SSID_V 63; PRG_IDX 8:0, ADDR 63:12', () => {
    const w = encodePriq({ SID: 8, SSID: 3, SSID_V: 1, PERM_READ: 1, PRG_LAST: 1, PRG_IDX: 5, ADDR: 0x12345 });
    expect(toDwords(w, 2)).toEqual([0xd000_0003_0000_0008n, 0x0000_0000_1234_5005n]);
    expect(pos(PRIQ.PERM_WRITE)).toEqual([0, 61, 61]);
  });
});
