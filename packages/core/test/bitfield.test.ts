import { describe, expect, it } from 'vitest';
import {
  addrField,
  bitField,
  dwField,
  fieldMaskBig,
  fromDwords,
  getAddr,
  getAddrBig,
  getAddrWords,
  getField,
  getFieldBig,
  ibmField,
  setAddr,
  setAddrWords,
  setField,
  setFieldBig,
  toDwords,
  type BitField,
} from '../src/index.js';

const pos = (f: BitField) => ({ lsb: f.lsb, width: f.width, dw: f.dw, lo: f.lo });

describe('constructors: one representation for three numberings', () => {
  it('VT-d scalable-mode PASID entry (VT-d spec 9.6; Linux intel/pasid.h pasid_set_slptr / pasid_set_flptr): SLPTPTR 63:12, DID 79:64, FLPTPTR 191:140', () => {
    expect(pos(bitField('SLPTPTR', 63, 12))).toEqual({ lsb: 12, width: 52, dw: 0, lo: 12 });
    expect(pos(bitField('DID', 79, 64))).toEqual({ lsb: 64, width: 16, dw: 1, lo: 0 });
    expect(pos(bitField('FLPTPTR', 191, 140))).toEqual({ lsb: 140, width: 52, dw: 2, lo: 12 });
    expect(pos(bitField('P', 0))).toEqual({ lsb: 0, width: 1, dw: 0, lo: 0 });
  });

  it('SMMUv3 STE (SMMUv3 spec 5.2; Linux arm-smmu-v3.h STRTAB_STE_3_S2TTB_MASK GENMASK_ULL(51, 4)): S2TTB = dw 3 bits 51:4', () => {
    const f = dwField('S2TTB', 3, 51, 4);
    expect(pos(f)).toEqual({ lsb: 196, width: 48, dw: 3, lo: 4 });
    expect(fieldMaskBig(f)).toBe(0x000f_ffff_ffff_fff0n);
    expect(pos(dwField('S2VMID', 2, 15, 0))).toEqual({ lsb: 128, width: 16, dw: 2, lo: 0 });
    expect(pos(dwField('V', 0, 0))).toEqual({ lsb: 0, width: 1, dw: 0, lo: 0 });
  });

  it('skiboot include/bitutils.h PPC_BIT / PPC_BITMASK (IBM MSB-0 numbering)', () => {
    expect(fieldMaskBig(ibmField('b0', 0))).toBe(0x8000_0000_0000_0000n); // PPC_BIT(0)
    expect(fieldMaskBig(ibmField('b63', 63))).toBe(1n); // PPC_BIT(63)
    expect(fieldMaskBig(ibmField('m', 0, 15))).toBe(0xffff_0000_0000_0000n); // PPC_BITMASK(0,15)
    expect(fieldMaskBig(ibmField('m', 59, 63))).toBe(0x1fn); // PPC_BITMASK(59,63)
    expect(fieldMaskBig(ibmField('TABLE_ADDR', 0, 47))).toBe(0xffff_ffff_ffff_0000n); // IODA3_TVT_TABLE_ADDR
    expect(fieldMaskBig(ibmField('RTT_BASE', 8, 46))).toBe(0x00ff_ffff_fffe_0000n); // PHB_RTT_BASE_ADDRESS
    expect(pos(ibmField('m', 0, 15))).toEqual({ lsb: 48, width: 16, dw: 0, lo: 48 });
  });

  it('skiboot GETFIELD / SETFIELD on a register value (PPC_BITMASK(48,50))', () => {
    const f = ibmField('NUM_LEVELS', 48, 50);
    expect(setFieldBig(0n, f, 4n)).toBe(0x8000n);
    expect(getFieldBig(0xa000n, f)).toBe(5n);
  });

  it('a field must lie within one doubleword', () => {
    expect(() => bitField('X', 75, 12)).toThrow(RangeError);
    expect(() => dwField('X', 0, 64, 60)).toThrow(RangeError);
    expect(() => ibmField('X', 60, 64)).toThrow(RangeError);
  });

  it('precomputed parts are not enumerable (field objects compare and print by position)', () => {
    expect(Object.keys(bitField('DID', 79, 64))).toEqual(['name', 'lsb', 'width', 'dw', 'lo', 'addr']);
  });
});

describe('number accessors over 32-bit words', () => {
  it('VT-d PASID entry: SLPTPTR (63:12) written as an address lands in words 0 and 1', () => {
    const w = new Uint32Array(16);
    const f = addrField(bitField('SLPTPTR', 63, 12));
    setAddr(w, 0, f, 0x12_3456_7000);
    expect(toDwords(w, 1)).toEqual([0x12_3456_7000n]);
    expect(getAddr(w, 0, f)).toBe(0x12_3456_7000);
    expect(getAddrBig(toDwords(w, 8), f)).toBe(0x12_3456_7000n);
  });

  it('SMMUv3 STE S2TTB (dw 3, 51:4) at a structure base: only words base+6 and base+7 change', () => {
    const w = new Uint32Array(32).fill(0xffffffff);
    const f = dwField('S2TTB', 3, 51, 4);
    setField(w, 16, f, 0);
    expect(toDwords(w, 8, 16)[3]).toBe(0xfff0_0000_0000_000fn);
    setField(w, 16, f, 0x1234_5678_9ab);
    expect(getField(w, 16, f)).toBe(0x1234_5678_9ab);
    expect(toDwords(w, 8, 16)[3]).toBe(0xfff0_1234_5678_9abfn);
    expect([...w.subarray(0, 22)].every((x) => x === 0xffffffff)).toBe(true);
    expect([...w.subarray(24)].every((x) => x === 0xffffffff)).toBe(true);
  });

  it('fields within the low word, the high word, and straddling the boundary', () => {
    const cases: [BitField, number][] = [
      [dwField('lowword', 0, 31, 0), 0xffff_ffff],
      [dwField('highword', 1, 63, 32), 0x8000_0001],
      [dwField('straddle', 0, 35, 28), 0xa5],
      [dwField('straddle1', 0, 32, 31), 0b10],
      [dwField('top', 0, 63, 63), 1],
      [dwField('w52', 2, 63, 12), 2 ** 52 - 1],
      [dwField('w52lo', 2, 51, 0), 2 ** 52 - 1],
      [dwField('w52mid', 2, 55, 4), 0x8_0000_0000_0001],
    ];
    for (const [f, v] of cases) {
      for (const fill of [0, 0xffffffff]) {
        const w = new Uint32Array(8).fill(fill);
        setField(w, 0, f, v);
        expect(getField(w, 0, f), f.name).toBe(v);
        const q = toDwords(fill === 0 ? new Uint32Array(8) : new Uint32Array(8).fill(fill), 4);
        setFieldBig(q, f, BigInt(v));
        expect(toDwords(w, 4), f.name).toEqual(q);
        expect(getFieldBig(q, f), f.name).toBe(BigInt(v));
        setField(w, 0, f, 0);
        expect(getField(w, 0, f), f.name).toBe(0);
      }
    }
  });

  it('round trip against the bigint view for random values and positions', () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let n = 0; n < 2000; n++) {
      const width = 1 + Math.floor(rnd() * 52);
      const lo = Math.floor(rnd() * (65 - width));
      const dw = Math.floor(rnd() * 4);
      const f = dwField('r', dw, lo + width - 1, lo);
      const v = Math.floor(rnd() * 2 ** Math.min(width, 30)) * 2 ** Math.max(0, width - 30) + Math.floor(rnd() * 2 ** Math.max(0, width - 30));
      const w = new Uint32Array(8);
      for (let i = 0; i < 8; i++) w[i] = Math.floor(rnd() * 2 ** 32);
      const q = toDwords(w, 4);
      setField(w, 0, f, v);
      setFieldBig(q, f, BigInt(v));
      expect(toDwords(w, 4)).toEqual(q);
      expect(getField(w, 0, f)).toBe(v);
      expect(fromDwords(q)).toEqual(w);
    }
  });

  it('setField accepts booleans and rejects values that do not fit', () => {
    const w = new Uint32Array(2);
    const f = dwField('f', 0, 35, 30);
    setField(w, 0, dwField('b', 0, 5), true);
    expect(w[0]).toBe(0x20);
    expect(() => setField(w, 0, f, 64)).toThrow(RangeError);
    expect(() => setField(w, 0, f, -1)).toThrow(RangeError);
    expect(() => setField(w, 0, f, 1.5)).toThrow(RangeError);
    expect(() => setField(w, 0, dwField('w52', 0, 63, 12), 2 ** 52)).toThrow(RangeError);
    expect(() => setFieldBig([0n], f, 64n)).toThrow(RangeError);
    expect(() => setAddr(w, 0, addrField(dwField('a', 0, 51, 12)), 0x1800)).toThrow(RangeError);
  });
});

describe('bigint accessors', () => {
  it('address fields wider than 52 bits over words (VT-d inv_wait_dsc status address 127:66, Linux QI_IWD_STATUS_ADDR)', () => {
    const f = addrField(bitField('STATUS_ADDR', 127, 66));
    const w = new Uint32Array(8).fill(0xffffffff);
    setAddrWords(w, 0, f, 0xfedc_ba98_7654_3210n);
    expect(toDwords(w, 2)).toEqual([0xffff_ffff_ffff_ffffn, 0xfedc_ba98_7654_3213n]);
    expect(getAddrWords(w, 0, f)).toBe(0xfedc_ba98_7654_3210n);
    expect(getAddrBig(toDwords(w, 2), f)).toBe(0xfedc_ba98_7654_3210n);
    expect(() => setAddrWords(w, 0, f, 0x1002n)).toThrow(RangeError);
  });

  it('a whole structure as one bigint uses absolute positions (VT-d FLPTPTR 191:140)', () => {
    const f = bitField('FLPTPTR', 191, 140);
    const v = setFieldBig(0n, f, 0xabcden);
    expect(v).toBe(0xabcden << 140n);
    expect(getFieldBig(v, f)).toBe(0xabcden);
    expect(getFieldBig([0n, 0n, 0xabcde000n], f)).toBe(0xabcden);
  });

  it('setFieldBig on doublewords writes in place and leaves other bits alone', () => {
    const q = [~0n & ((1n << 64n) - 1n), 0n];
    setFieldBig(q, ibmField('TSEL', 11, 15), 9n);
    expect(q[0]).toBe(0xffe9_ffff_ffff_ffffn);
    expect(q[1]).toBe(0n);
  });
});
