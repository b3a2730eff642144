import { describe, expect, it } from 'vitest';
import {
  IODA3_PESTA_MMIO_FROZEN,
  IODA3_PESTB_DMA_STOPPED,
  IODA3_TBL_PESTA,
  IODA3_TBL_PESTB,
  IODA3_TBL_TVT,
  PHB4_EEH_CAP_512_PES,
  PHB_IODA_ADDR,
  PHB_IODA_AD_AUTOINC,
  PHB_IODA_AD_TADR,
  PHB_IODA_AD_TSEL,
  PHB_IODA_DATA0,
  PHB_PHB4_EEH_CAP,
  PHB_RTC_INVALIDATE,
  PHB_RTC_INVALIDATE_ALL,
  PHB_RTT_BAR,
  PHB_RTT_BAR_ENABLE,
  PHB_RTT_BASE_ADDRESS,
  PHB_TCE_KILL,
  PHB_TCE_KILL_ALL,
  PHB_TCE_KILL_ONE,
  PHB_TCE_KILL_PE,
  PHB_TCE_KILL_PENUM,
  PHB_TCE_KILL_PSEL,
  Phb4,
  Phb4Firmware,
  RTT_TABLE_SIZE,
  decodeTceKill,
  encodeTceKill,
  readRte,
} from '../src/index.js';
import { fieldMaskBig, getFieldBig, setFieldBig } from '@ioasid/core';
import { newHost } from './helpers.js';

describe('PHB4 register offsets and fields (skiboot include/phb4-regs.h)', () => {
  it('offsets', () => {
    expect(PHB_RTT_BAR).toBe(0x168);
    expect(PHB_RTC_INVALIDATE).toBe(0x208);
    expect(PHB_TCE_KILL).toBe(0x210);
    expect(PHB_IODA_ADDR).toBe(0x220);
    expect(PHB_IODA_DATA0).toBe(0x228);
    expect(PHB_PHB4_EEH_CAP).toBe(0x268);
  });

  it('PHB_RTT_BAR: ENABLE = PPC_BIT(0), BASE_ADDRESS = PPC_BITMASK(8,46)', () => {
    expect(PHB_RTT_BAR_ENABLE).toBe(0x8000000000000000n);
    expect(fieldMaskBig(PHB_RTT_BASE_ADDRESS)).toBe(0x00fffffffffe0000n);
  });

  it('PHB_TCE_KILL: ALL/PE/ONE/PSEL = PPC_BIT(0..3), PENUM = PPC_BITMASK(55,63)', () => {
    expect(PHB_TCE_KILL_ALL).toBe(0x8000000000000000n);
    expect(PHB_TCE_KILL_PE).toBe(0x4000000000000000n);
    expect(PHB_TCE_KILL_ONE).toBe(0x2000000000000000n);
    expect(PHB_TCE_KILL_PSEL).toBe(0x1000000000000000n);
    expect(fieldMaskBig(PHB_TCE_KILL_PENUM)).toBe(0x1ffn);
  });

  it('PHB_IODA_ADDR: AUTOINC = PPC_BIT(0), TSEL = PPC_BITMASK(11,15), TADR = PPC_BITMASK(54,63); TVT = table 9, PESTA 7, PESTB 8', () => {
    expect(PHB_IODA_AD_AUTOINC).toBe(0x8000000000000000n);
    expect(fieldMaskBig(PHB_IODA_AD_TSEL)).toBe(0x001f000000000000n);
    expect(fieldMaskBig(PHB_IODA_AD_TADR)).toBe(0x3ffn);
    expect([IODA3_TBL_PESTA, IODA3_TBL_PESTB, IODA3_TBL_TVT]).toEqual([7, 8, 9]);
    expect(IODA3_PESTA_MMIO_FROZEN).toBe(0x8000000000000000n);
    expect(IODA3_PESTB_DMA_STOPPED).toBe(0x8000000000000000n);
  });

  it('PHB_PHB4_EEH_CAP of a 512-PE PHB4 reads 0x2000000000000000 (QEMU pnv_phb4_reg_read big_phb); skiboot takes max PEs = value >> 52', () => {
    const phb = new Phb4(newHost());
    expect(phb.read('PHB_PHB4_EEH_CAP')).toBe(PHB4_EEH_CAP_512_PES);
    expect(Number(phb.registers().PHB_PHB4_EEH_CAP >> 52n)).toBe(phb.numPes);
    phb.write('PHB_PHB4_EEH_CAP', 0n);
    expect(phb.read('PHB_PHB4_EEH_CAP')).toBe(PHB4_EEH_CAP_512_PES);
  });
});

describe('TCE kill values (skiboot hw/phb4.c phb4_tce_kill)', () => {
  it('KILL_ONE of a 64K page of PE 510 at 0x0800000000010000 = 0x38000000000111fe', () => {
    const v = encodeTceKill({ kind: 'one', pe: 510, dmaAddr: 0x0800000000010000n, pageShift: 16 });
    expect(v).toBe(0x38000000000111fen);
    expect(decodeTceKill(v)).toEqual({ kind: 'one', pe: 510, dmaAddr: 0x0800000000010000n, pageShift: 16 });
  });

  it('KILL_ONE of a 4K page carries no PSEL: PE 3 at 0x5000 = 0x2000000000005003', () => {
    expect(encodeTceKill({ kind: 'one', pe: 3, dmaAddr: 0x5000n, pageShift: 12 })).toBe(0x2000000000005003n);
  });

  it('2M and 1G size codes 0x2000 / 0x3000', () => {
    expect(encodeTceKill({ kind: 'one', pe: 0, dmaAddr: 0x200000n, pageShift: 21 })).toBe(0x3000000000202000n);
    expect(encodeTceKill({ kind: 'one', pe: 0, dmaAddr: 0x40000000n, pageShift: 30 })).toBe(0x3000000040003000n);
  });

  it('KILL_PE of PE 0x1fe = 0x40000000000001fe; KILL_ALL = 0x8000000000000000', () => {
    expect(encodeTceKill({ kind: 'pe', pe: 0x1fe })).toBe(0x40000000000001fen);
    expect(encodeTceKill({ kind: 'all' })).toBe(0x8000000000000000n);
  });
});

describe('PHB init by firmware (skiboot phb4_allocate_tables, Init_20)', () => {
  it('PHB_RTT_BAR = RTT address | enable; the RTT is 128 KiB aligned and holds the reserved PE# everywhere', () => {
    const host = newHost();
    host.allocFrame();
    const phb = new Phb4(host);
    const fw = new Phb4Firmware(phb, host);
    const bar = phb.registers().PHB_RTT_BAR;
    expect(bar).toBe(BigInt(fw.rttBase) | 0x8000000000000000n);
    expect(fw.rttBase % RTT_TABLE_SIZE).toBe(0);
    expect(bar & fieldMaskBig(PHB_RTT_BASE_ADDRESS)).toBe(BigInt(fw.rttBase));
    expect(phb.reservedPe).toBe(511);
    expect(readRte(host, fw.rttBase, 0x1234)).toBe(511);
  });

  it('IODA_ADDR/DATA0 write the TVT, with autoincrement; registers() lists non-zero TVEs by decimal index', () => {
    const phb = new Phb4(newHost());
    let ad = setFieldBig(0n, PHB_IODA_AD_TSEL, IODA3_TBL_TVT);
    ad = setFieldBig(ad, PHB_IODA_AD_TADR, 20n) | PHB_IODA_AD_AUTOINC;
    phb.write('PHB_IODA_ADDR', ad);
    phb.write('PHB_IODA_DATA0', 0x10000b01n);
    phb.write('PHB_IODA_DATA0', 0x24682405n);
    const regs = phb.registers();
    expect(regs['TVT[20]']).toBe(0x10000b01n);
    expect(regs['TVT[21]']).toBe(0x24682405n);
    expect(regs['TVT[22]']).toBeUndefined();
    expect(getFieldBig(phb.read('PHB_IODA_ADDR'), PHB_IODA_AD_TADR)).toBe(22n);
  });

  it('reading registers() has no side effect', () => {
    const phb = new Phb4(newHost());
    phb.write('PHB_IODA_ADDR', setFieldBig(0n, PHB_IODA_AD_TSEL, 9n) | PHB_IODA_AD_AUTOINC);
    const before = phb.read('PHB_IODA_ADDR');
    phb.registers();
    phb.registers();
    expect(phb.read('PHB_IODA_ADDR')).toBe(before);
  });

  it('RTC invalidate ALL empties the RID translation cache', () => {
    const phb = new Phb4(newHost());
    phb.rtc.set(8, 3);
    phb.write('PHB_RTC_INVALIDATE', PHB_RTC_INVALIDATE_ALL);
    expect(phb.rtc.size).toBe(0);
  });
});
