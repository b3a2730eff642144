import { describe, expect, it } from 'vitest';
import { createMachine, type BitField } from '@ioasid/core';
import { CMDQ_CONS_ERR, CR0, IDR0, IDR1, IDR3, IDR5, Q_BASE, REG_OFFSET, STRTAB_BASE, STRTAB_BASE_CFG } from '../src/index.js';
import type { SmmuV3Driver } from '../src/driver.js';

const pos = (f: BitField): [number, number] => [f.lo + f.width - 1, f.lo];
/** Bits [hi:lo] of a register value, read by the test itself (not by our helpers). */
const bits = (v: bigint, hi: number, lo: number): number => Number((v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));

describe('register offsets — Linux arm-smmu-v3.h ARM_SMMU_*, QEMU smmuv3-internal.h REG32/A_*', () => {
  it('offsets', () => {
    expect(REG_OFFSET).toMatchObject({
      IDR0: 0x0, IDR1: 0x4, IDR3: 0xc, IDR5: 0x14, CR0: 0x20, CR0ACK: 0x24, CR1: 0x28, GBPA: 0x44, GERROR: 0x60,
      STRTAB_BASE: 0x80, STRTAB_BASE_CFG: 0x88, CMDQ_BASE: 0x90, CMDQ_PROD: 0x98, CMDQ_CONS: 0x9c,
      EVENTQ_BASE: 0xa0, EVENTQ_PROD: 0xa8, EVENTQ_CONS: 0xac, PRIQ_BASE: 0xc0, PRIQ_PROD: 0xc8, PRIQ_CONS: 0xcc,
    });
  });
});

describe('register field positions — Linux IDR0_* / IDR1_* / IDR3_* / IDR5_* / CR0_* / STRTAB_BASE_* / Q_BASE_*', () => {
  const table: [string, BitField, [number, number]][] = [
    ['IDR0.S2P', IDR0.S2P, [0, 0]],
    ['IDR0.S1P', IDR0.S1P, [1, 1]],
    ['IDR0.TTF', IDR0.TTF, [3, 2]],
    ['IDR0.COHACC', IDR0.COHACC, [4, 4]],
    ['IDR0.HTTU', IDR0.HTTU, [7, 6]],
    ['IDR0.HYP', IDR0.HYP, [9, 9]],
    ['IDR0.ATS', IDR0.ATS, [10, 10]],
    ['IDR0.ASID16', IDR0.ASID16, [12, 12]],
    ['IDR0.MSI', IDR0.MSI, [13, 13]],
    ['IDR0.SEV', IDR0.SEV, [14, 14]],
    ['IDR0.PRI', IDR0.PRI, [16, 16]],
    ['IDR0.VMID16', IDR0.VMID16, [18, 18]],
    ['IDR0.CD2L', IDR0.CD2L, [19, 19]],
    ['IDR0.TTENDIAN', IDR0.TTENDIAN, [22, 21]],
    ['IDR0.STALL_MODEL', IDR0.STALL_MODEL, [25, 24]],
    ['IDR0.TERM_MODEL (QEMU FIELD(IDR0, TERM_MODEL, 26, 1))', IDR0.TERM_MODEL, [26, 26]],
    ['IDR0.ST_LEVEL', IDR0.ST_LEVEL, [28, 27]],
    ['IDR1.SIDSIZE', IDR1.SIDSIZE, [5, 0]],
    ['IDR1.SSIDSIZE', IDR1.SSIDSIZE, [10, 6]],
    ['IDR1.PRIQS', IDR1.PRIQS, [15, 11]],
    ['IDR1.EVENTQS (IDR1_EVTQS)', IDR1.EVENTQS, [20, 16]],
    ['IDR1.CMDQS', IDR1.CMDQS, [25, 21]],
    ['IDR3.RIL', IDR3.RIL, [10, 10]],
    ['IDR3.HAD (QEMU FIELD(IDR3, HAD, 2, 1))', IDR3.HAD, [2, 2]],
    ['IDR5.OAS', IDR5.OAS, [2, 0]],
    ['IDR5.GRAN4K', IDR5.GRAN4K, [4, 4]],
    ['IDR5.GRAN16K', IDR5.GRAN16K, [5, 5]],
    ['IDR5.GRAN64K', IDR5.GRAN64K, [6, 6]],
    ['IDR5.VAX', IDR5.VAX, [11, 10]],
    ['IDR5.STALL_MAX', IDR5.STALL_MAX, [31, 16]],
    ['CR0.SMMUEN', CR0.SMMUEN, [0, 0]],
    ['CR0.PRIQEN', CR0.PRIQEN, [1, 1]],
    ['CR0.EVTQEN', CR0.EVENTQEN, [2, 2]],
    ['CR0.CMDQEN', CR0.CMDQEN, [3, 3]],
    ['CR0.ATSCHK', CR0.ATSCHK, [4, 4]],
    ['STRTAB_BASE.RA', STRTAB_BASE.RA, [62, 62]],
    ['STRTAB_BASE.ADDR (STRTAB_BASE_ADDR_MASK 51:6)', STRTAB_BASE.ADDR, [51, 6]],
    ['STRTAB_BASE_CFG.FMT', STRTAB_BASE_CFG.FMT, [17, 16]],
    ['STRTAB_BASE_CFG.SPLIT', STRTAB_BASE_CFG.SPLIT, [10, 6]],
    ['STRTAB_BASE_CFG.LOG2SIZE', STRTAB_BASE_CFG.LOG2SIZE, [5, 0]],
    ['Q_BASE.RWA', Q_BASE.RWA, [62, 62]],
    ['Q_BASE.ADDR (Q_BASE_ADDR_MASK 51:5)', Q_BASE.ADDR, [51, 5]],
    ['Q_BASE.LOG2SIZE', Q_BASE.LOG2SIZE, [4, 0]],
    ['CMDQ_CONS.ERR (CMDQ_CONS_ERR 30:24)', CMDQ_CONS_ERR, [30, 24]],
  ];
  for (const [name, f, p] of table) it(`${name} is bits ${p[0]}:${p[1]}`, () => expect(pos(f)).toEqual(p));
});

describe('the default unit after the driver reset', () => {
  const m = createMachine({ vendor: 'arm-smmuv3' });
  const r = m.iommu.registers();
  const drv = m.driver as SmmuV3Driver;

  it('IDR0 = S2P|S1P|TTF AArch64|COHACC|HTTU 2 (access flag and dirty)|ATS|ASID16|MSI|SEV|PRI|VMID16|CD2L|TTENDIAN LE|TERM_MODEL|ST_LEVEL 2-level', () => {
    // 0x0c4d_741b before issue 20, plus HTTU = 0b10 in bits 7:6 (0x80).
    expect(r.IDR0).toBe(0x0c4d_749bn);
  });
  it('IDR1 = SIDSIZE 16, SSIDSIZE 20, PRIQS/EVENTQS/CMDQS 19 (QEMU SMMU_CMDQS, SMMU_EVENTQS)', () => {
    expect(r.IDR1).toBe(0x0273_9d10n);
  });
  it('IDR3 = RIL; IDR5 = OAS 48-bit (5), GRAN4K|GRAN16K|GRAN64K, STALL_MAX 32', () => {
    expect(r.IDR3).toBe(0x400n);
    expect(r.IDR5).toBe(0x0020_0075n);
  });
  it('CR0 = SMMUEN|EVTQEN|PRIQEN|CMDQEN|ATSCHK (Linux arm_smmu_device_reset with IDR0.ATS) and CR0ACK mirrors it', () => {
    expect(r.CR0).toBe(0x1fn);
    expect(r.CR0ACK).toBe(0x1fn);
  });
  it('STRTAB_BASE = RA | the stream table address; STRTAB_BASE_CFG = FMT 2-level, SPLIT 8, LOG2SIZE 16', () => {
    expect(bits(r.STRTAB_BASE, 62, 62)).toBe(1);
    expect(BigInt(bits(r.STRTAB_BASE, 51, 6)) << 6n).toBe(BigInt(drv.strtab.baseAddr));
    expect(r.STRTAB_BASE_CFG).toBe(0x1_0210n);
  });
  it('queue bases: RWA | address | LOG2SIZE (CMDQ 256 entries, EVENTQ 128); PROD/CONS equal and error-free', () => {
    expect(bits(r.CMDQ_BASE, 4, 0)).toBe(8);
    expect(BigInt(bits(r.CMDQ_BASE, 51, 5)) << 5n).toBe(BigInt(drv.cmdq.frame * 4096));
    expect(bits(r.EVENTQ_BASE, 4, 0)).toBe(7);
    expect(bits(r.EVENTQ_BASE, 62, 62)).toBe(1);
    expect(r.CMDQ_PROD).toBe(r.CMDQ_CONS);
    expect(bits(r.CMDQ_CONS, 30, 24)).toBe(0);
    expect(r.EVENTQ_PROD).toBe(0n);
  });
  it('the driver reset issued CFGI_ALL, TLBI_NSNH_ALL and CMD_SYNC through the queue in memory', () => {
    expect(drv.cmdq.count('CFGI_ALL')).toBe(1);
    expect(drv.cmdq.count('TLBI_NSNH_ALL')).toBe(1);
    expect(Number(r.CMDQ_PROD & 0x1ffn)).toBe(3);
  });
});

describe('GET_INFO derives from the ID registers', () => {
  function fromRegisters(r: Record<string, bigint>) {
    const granules = [4096, 16384, 65536].filter((_, i) => bits(r.IDR5, 4 + i, 4 + i) === 1);
    return {
      granules,
      ssid: bits(r.IDR1, 10, 6),
      coherent: bits(r.IDR0, 4, 4) === 1,
      nesting: bits(r.IDR0, 1, 1) === 1 && bits(r.IDR0, 0, 0) === 1,
      cd2l: bits(r.IDR0, 19, 19) === 1,
      pri: bits(r.IDR0, 16, 16) === 1,
      ats: bits(r.IDR0, 10, 10) === 1,
      oas: [32, 36, 40, 42, 44, 48, 52][bits(r.IDR5, 2, 0)],
    };
  }

  for (const [title, features] of [
    ['default features', {}],
    ['64K granule only, 8-bit SubstreamIDs, no PRI, no ATS, no 2-level CD tables, 44-bit OAS', { granules: [65536], ssidBits: 8, pri: false, ats: false, twoLevelCdTable: false, oasBits: 44 }],
    ['4K and 16K granules', { granules: [4096, 16384] }],
  ] as const) {
    it(`${title}: formats, page sizes, input range, PASID width and flags agree with IDR0/IDR1/IDR5`, () => {
      const m = createMachine({ vendor: 'arm-smmuv3', devices: [{ name: 'dev0', ats: true, pri: true }], smmuv3: { features } });
      const id = fromRegisters(m.iommu.registers());
      const info = m.device('dev0').getInfo();
      const ias = Math.min(48, Math.max(48, id.oas));
      expect(info.formats).toEqual(id.granules.map((granule) => ({ kind: 'arm-lpae-s1', granule, ias })));
      expect(info.pasidBits).toBe(id.ssid);
      expect(info.pasidTableFormats).toEqual([
        // Linear CD tables up to Linux CTXDESC_LINEAR_CDMAX = ilog2(SZ_64K / sizeof(struct arm_smmu_cd)) = 10.
        { kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: Math.min(id.ssid, 10) },
        ...(id.cd2l ? [{ kind: 'arm-smmuv3-cd', layout: 'two-level', s1cdmax: id.ssid }] : []),
      ]);
      expect(info.nesting).toBe(id.nesting ? 'hardware' : 'none');
      expect(info.coherent).toBe(id.coherent);
      expect(info.pageRequest).toBe(id.pri);
      expect(info.ats).toBe(id.ats);
      expect(info.enqcmd).toBe(false);
      // Kernel-managed tables use the 4K granule when offered, else the smallest.
      const g = id.granules[0];
      const expectedSizes = g === 4096 ? [1n << 12n, 1n << 21n, 1n << 30n] : g === 16384 ? [1n << 14n, 1n << 25n] : [1n << 16n, 1n << 29n];
      expect(info.pageSizes).toEqual(expectedSizes);
      expect(info.permittedRanges).toEqual([
        { start: 0n, last: 0x7ff_ffffn },
        { start: 0x810_0000n, last: (1n << BigInt(ias)) - 1n },
      ]);
    });
  }

  it('reading the registers has no side effect', () => {
    const m = createMachine({ vendor: 'arm-smmuv3' });
    const a = m.iommu.registers();
    const b = m.iommu.registers();
    expect(b).toEqual(a);
  });
});
