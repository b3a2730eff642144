import { describe, expect, it } from 'vitest';
import {
  DDW_BUS_BASE,
  IODA3_TVT_IO_PSIZE,
  IODA3_TVT_NON_TRANSLATE_50,
  IODA3_TVT_NUM_LEVELS,
  IODA3_TVT_TABLE_ADDR,
  IODA3_TVT_TCE_TABLE_SIZE,
  RTT_TABLE_ENTRIES,
  RTT_TABLE_SIZE,
  decodeTve,
  encodeTve,
  fillRtt,
  readRte,
  rteAddr,
  tveIndex,
  writeRte,
} from '../src/index.js';
import { fieldMaskBig, getFieldBig, ibmField, setFieldBig } from '@ioasid/core';
import { bytes, newHost } from './helpers.js';

describe('IBM bit numbering (skiboot include/bitutils.h PPC_BIT / PPC_BITMASK)', () => {
  it('PPC_BIT(0) is the MSB, PPC_BITMASK(59,63) the low five bits', () => {
    expect(fieldMaskBig(ibmField('b', 0))).toBe(0x8000000000000000n);
    expect(fieldMaskBig(ibmField('b', 63))).toBe(1n);
    expect(fieldMaskBig(ibmField('m', 59, 63))).toBe(0x1fn);
    expect(setFieldBig(0n, ibmField('m', 48, 50), 4n)).toBe(0x8000n);
    expect(getFieldBig(0xa000n, ibmField('m', 48, 50))).toBe(5n);
  });
});

describe('IODA3 TVE fields (skiboot include/phb4-regs.h IODA3_TVT_*)', () => {
  it('field masks at their architectural positions', () => {
    expect(fieldMaskBig(IODA3_TVT_TABLE_ADDR)).toBe(0xffffffffffff0000n); // PPC_BITMASK(0,47)
    expect(fieldMaskBig(IODA3_TVT_NUM_LEVELS)).toBe(0xe000n); // PPC_BITMASK(48,50)
    expect(fieldMaskBig(IODA3_TVT_TCE_TABLE_SIZE)).toBe(0x1f00n); // PPC_BITMASK(51,55)
    expect(IODA3_TVT_NON_TRANSLATE_50).toBe(0x80n); // PPC_BIT(56)
    expect(fieldMaskBig(IODA3_TVT_IO_PSIZE)).toBe(0x1fn); // PPC_BITMASK(59,63)
  });

  it('skiboot phb4_map_pe_dma_window: 4 MiB one-level table at 0x1000000, 4K pages -> 0x10000b01', () => {
    // TABLE_ADDR = addr >> 12; TCE_TABLE_SIZE = ilog2(0x400000) - 11 = 11; IO_PSIZE 4K = 1; levels-1 = 0
    expect(encodeTve({ tableAddr: 0x1000000n, levels: 1, tableSize: 0x400000n, pageShift: 12 })).toBe(0x10000b01n);
  });

  it('two 32 KiB levels at 0x2468000 with 64K pages -> 0x24682405 (IO_PSIZE 64K = 5)', () => {
    expect(encodeTve({ tableAddr: 0x2468000n, levels: 2, tableSize: 0x8000n, pageShift: 16 })).toBe(0x24682405n);
  });

  it('five 4 KiB levels at 8 TiB with 1G pages -> 0x0000800000008113 (IO_PSIZE 1G = 19)', () => {
    expect(encodeTve({ tableAddr: 0x80000000000n, levels: 5, tableSize: 0x1000n, pageShift: 30 })).toBe(0x0000800000008113n);
  });

  it('2M pages encode IO_PSIZE 10 (0xa)', () => {
    expect(encodeTve({ tableAddr: 0x3000000n, levels: 3, tableSize: 0x2000n, pageShift: 21 })).toBe(0x3000420an);
  });

  it('QEMU pnv_phb4_translate_tve decode: tbl_shift = tts + 8, tce_shift = tps + 11, window = tbl_shift*levels + tce_shift', () => {
    const d = decodeTve(0x10000b01n);
    expect(d).toMatchObject({ valid: true, tableAddr: 0x1000000n, levels: 1, tableSizeField: 11, ioPsizeField: 1, levelBits: 19, pageShift: 12, windowShift: 31 });
    const d2 = decodeTve(0x24682405n);
    expect(d2).toMatchObject({ tableAddr: 0x2468000n, levels: 2, levelBits: 12, pageShift: 16, windowShift: 40 });
    expect(decodeTve(0n).valid).toBe(false);
  });

  it('TVE index = PE# * 2 + bus bit 59; the DDW starts at 0x0800000000000000', () => {
    expect(tveIndex(510, 0)).toBe(1020);
    expect(tveIndex(510, 1)).toBe(1021);
    expect(DDW_BUS_BASE).toBe(0x0800000000000000n);
  });
});

describe('RID translation table (skiboot include/phb4.h RTT_TABLE_*, QEMU pnv_phb4_resolve_pe)', () => {
  it('64K two-byte entries, 128 KiB', () => {
    expect(RTT_TABLE_ENTRIES).toBe(0x10000);
    expect(RTT_TABLE_SIZE).toBe(0x20000);
  });

  it('entry for RID r at base + 2*r, PE# big-endian', () => {
    const host = newHost();
    const frame = host.allocFrames(32, 32);
    const base = frame * 4096;
    fillRtt(host, frame, 0x1ff);
    expect(host.read(base, 4)).toEqual(bytes(0x01, 0xff, 0x01, 0xff));
    expect(host.read(base + RTT_TABLE_SIZE - 2, 2)).toEqual(bytes(0x01, 0xff));
    writeRte(host, base, 0x0010, 0x1fe);
    writeRte(host, base, 0x0011, 0x0a5);
    expect(rteAddr(base, 0x10)).toBe(base + 0x20);
    expect(host.read(base + 0x20, 4)).toEqual(bytes(0x01, 0xfe, 0x00, 0xa5));
    expect(readRte(host, base, 0x10)).toBe(0x1fe);
    expect(readRte(host, base, 0x11)).toBe(0x0a5);
    expect(readRte(host, base, 0x12)).toBe(0x1ff);
  });
});
