import { describe, expect, it } from 'vitest';
import { setFieldBig, type BitField } from '@ioasid/core';
import {
  CAP_FIELDS, ECAP_FIELDS, decodeRegister, VtdUnit, buildCap, buildEcap, GSTS_FIELDS, FSTS_FIELDS, FRCD_FIELDS, IQA_FIELDS,
  RTADDR_FIELDS, PQA_FIELDS, REGISTER_FIELDS, unitAddressWidth, slPageSizes, pasidBits, REG_OFFSET,
} from '../src/index.js';
import { newHost, vtdMachine } from './helpers.js';

function ones(f: BitField): bigint {
  const q = [0n, 0n];
  setFieldBig(q, f, (1n << BigInt(f.width)) - 1n);
  return (q[1] << 64n) | q[0];
}

function fieldVectors(fields: readonly BitField[], expected: Record<string, bigint>) {
  for (const f of fields) expect(ones(f), f.name).toBe(expected[f.name]);
  expect(Object.keys(expected).sort()).toEqual(fields.map((f) => f.name).sort());
}

describe('CAP_REG', () => {
  // Linux drivers/iommu/intel/iommu.h cap_*() decoders: ndoms 2:0, afl 3, rwbf 4, plmr 5, phmr 6, caching_mode 7,
  // sagaw 12:8, mgaw 21:16, zlr 22, fault_reg_offset 33:24 (x16), super_page_val 37:34, pgsel_inv 39,
  // num_fault_regs 47:40 (+1), max_amask_val 53:48, write_drain 54, read_drain 55, fl1gp 56, pi 59, fl5lp 60,
  // ecmds 61, esirtps 62, esrtps 63.
  it('field positions', () => {
    fieldVectors(CAP_FIELDS, {
      ND: 0x7n, AFL: 0x8n, RWBF: 0x10n, PLMR: 0x20n, PHMR: 0x40n, CM: 0x80n, SAGAW: 0x1f00n, MGAW: 0x3f0000n, ZLR: 0x400000n,
      FRO: 0x3ff000000n, SLLPS: 0x3c00000000n, PSI: 0x8000000000n, NFR: 0xff0000000000n, MAMV: 0x3f000000000000n,
      DWD: 1n << 54n, DRD: 1n << 55n, FL1GP: 1n << 56n, PI: 1n << 59n, FL5LP: 1n << 60n, ECMDS: 1n << 61n, ESIRTPS: 1n << 62n, ESRTPS: 1n << 63n,
    });
  });
  it('the value this unit reports, decoded as Linux decodes it', () => {
    const cap = buildCap({ addressWidth: 48, faultRecords: 8 });
    expect(cap).toBe(0x11d2078c226f0406n);
    expect(Number(cap & 7n)).toBe(6); // cap_ndoms = 1 << (4 + 2*6) = 65536
    expect(Number((cap >> 8n) & 0x1fn)).toBe(0b00100); // SAGAW: 48-bit 4-level only (QEMU VTD_CAP_SAGAW_48bit)
    expect(Number(((cap >> 16n) & 0x3fn) + 1n)).toBe(48); // cap_mgaw
    expect(Number(((cap >> 24n) & 0x3ffn) * 16n)).toBe(REG_OFFSET.FRCD_REG_OFFSET); // cap_fault_reg_offset = 0x220 (QEMU DMAR_FRCD_REG_OFFSET)
    expect(Number((cap >> 34n) & 0xfn)).toBe(0b11); // cap_super_page_val: 2M and 1G (QEMU VTD_CAP_SLLPS)
    expect(Number(((cap >> 40n) & 0xffn) + 1n)).toBe(8); // cap_num_fault_regs
    expect(Number((cap >> 48n) & 0x3fn)).toBe(18); // cap_max_amask_val (QEMU VTD_MAMV)
    expect((cap >> 7n) & 1n).toBe(0n); // caching mode off
  });
  it('57-bit configuration adds SAGAW bit 3 and MGAW 56', () => {
    const cap = buildCap({ addressWidth: 57, faultRecords: 1 });
    expect(decodeRegister('CAP_REG', cap)).toMatchObject({ SAGAW: 0b01100, MGAW: 56, NFR: 0 });
    expect(unitAddressWidth(cap)).toBe(57);
  });
});

describe('ECAP_REG', () => {
  // Linux ecap_*(): coherent 0, qis 1, dev_iotlb 2, ir 3, eim 4, pass_through 6, sc 7, iotlb_offset 17:8 (x16),
  // max_handle_mask 23:20, mts 25, nest 26, prs 29, ers 30, srs 31, nwfs 33, eafs 34, pss 39:35, pasid 40, dit 41,
  // pds 42, smts 43, vcs 44, slads 45, slts 46, flts 47, smpwc 48, rps 49, pms 51.
  it('field positions', () => {
    fieldVectors(ECAP_FIELDS, {
      C: 0x1n, QI: 0x2n, DT: 0x4n, IR: 0x8n, EIM: 0x10n, PT: 0x40n, SC: 0x80n, IRO: 0x3ff00n, MHMV: 0xf00000n, MTS: 1n << 25n,
      NEST: 1n << 26n, PRS: 1n << 29n, ERS: 1n << 30n, SRS: 1n << 31n, NWFS: 1n << 33n, EAFS: 1n << 34n, PSS: 0x1fn << 35n,
      PASID: 1n << 40n, DIT: 1n << 41n, PDS: 1n << 42n, SMTS: 1n << 43n, VCS: 1n << 44n, SLADS: 1n << 45n, SLTS: 1n << 46n,
      FLTS: 1n << 47n, SMPWCS: 1n << 48n, RPS: 1n << 49n, PMS: 1n << 51n,
    });
  });
  it('the value this unit reports', () => {
    const e = buildEcap();
    // QEMU VTD_ECAP_QI|DT|PT|SC|IRO(0xf00)|NEST|PRS|SRS|PSS(19<<35)|PASID|SMTS|SLTS|FLTS, plus C, SMPWCS
    // and SSADS (bit 45, Linux ecap_slads: second-stage A/D for dirty tracking).
    expect(e).toBe(0x1e998a4000fc7n);
    expect((e >> 45n) & 1n).toBe(1n);
    expect(Number(((e >> 8n) & 0x3ffn) * 16n)).toBe(REG_OFFSET.IOTLB_REG_OFFSET);
    expect(pasidBits(e)).toBe(20);
  });
});

describe('other registers', () => {
  // Linux DMA_GSTS_TES bit 31, RTPS 30, FLS 29, AFLS 28, WBFS 27, QIES 26, IRES 25, IRTPS 24, CFIS 23.
  it('GSTS_REG field positions', () => {
    fieldVectors(GSTS_FIELDS, { TES: 1n << 31n, RTPS: 1n << 30n, FLS: 1n << 29n, AFLS: 1n << 28n, WBFS: 1n << 27n, QIES: 1n << 26n, IRES: 1n << 25n, IRTPS: 1n << 24n, CFIS: 1n << 23n });
  });
  // Linux DMA_RTADDR_SMT (1 << 10); QEMU VTD_RTADDR_SMT, VTD_RTADDR_ADDR_MASK.
  it('RTADDR_REG field positions', () => {
    fieldVectors(RTADDR_FIELDS, { TTM: 0xc00n, RTA: 0xfffffffffffff000n });
  });
  // QEMU VTD_IQA_QS 0x7, VTD_IQA_DW_MASK 0x800, VTD_IQA_IQA_MASK; Linux __dmar_enable_qi writes BIT(11) | 1 in scalable mode.
  it('IQA_REG field positions', () => {
    fieldVectors(IQA_FIELDS, { QS: 0x7n, DW: 0x800n, IQA: 0xfffffffffffff000n });
  });
  // Linux DMA_FSTS_PFO bit 0, PPF 1, IQE 4, ICE 5, ITE 6, PRO 7, dma_fsts_fault_record_index 15:8.
  it('FSTS_REG field positions', () => {
    fieldVectors(FSTS_FIELDS, { PFO: 1n, PPF: 2n, IQE: 0x10n, ICE: 0x20n, ITE: 0x40n, PRO: 0x80n, FRI: 0xff00n });
  });
  // Linux DMA_FRCD_F (dword 3 bit 31), dma_frcd_type bit 30, dma_frcd_fault_reason 7:0, dma_frcd_pasid_value 27:8,
  // dma_frcd_source_id (dword 2) 15:0, dma_frcd_pasid_present bit 31, dma_frcd_page_addr (qword 0) 63:12;
  // QEMU VTD_FRCD_F (1 << 63 of hi), VTD_FRCD_T (1 << 62), VTD_FRCD_FR (<< 32), VTD_FRCD_SID, VTD_FRCD_PV (<< 40), VTD_FRCD_PP (<< 31).
  it('FRCD field positions (128-bit)', () => {
    fieldVectors(FRCD_FIELDS, {
      FI: 0xfffffffffffff000n, SID: 0xffffn << 64n, PP: 1n << 95n, FR: 0xffn << 96n, PV: 0xfffffn << 104n, T: 1n << 126n, F: 1n << 127n,
    });
  });
  // QEMU VTD_IQH_QH_MASK 0x7fff0, VTD_IQT_QT (bits 18:4, index << 5 with 256-bit descriptors), VTD_ICS_IWC 1,
  // VTD_FECTL_IM (1 << 31), VTD_FECTL_IP (1 << 30); Linux DMA_PRS_PPR 1, DMA_PRS_PRO 2, PRQ_RING_MASK (head/tail bits from 5).
  it('IQH/IQT/ICS/FECTL/PQH/PQT/PRS field positions', () => {
    const all: Record<string, Record<string, bigint>> = {
      IQH_REG: { QH: 0x7fff0n }, IQT_REG: { QT: 0x7fff0n }, ICS_REG: { IWC: 1n }, FECTL_REG: { IP: 1n << 30n, IM: 1n << 31n },
      PQH_REG: { PQH: 0x7ffe0n }, PQT_REG: { PQT: 0x7ffe0n }, PRS_REG: { PPR: 1n, PRO: 2n },
    };
    for (const [name, exp] of Object.entries(all)) {
      fieldVectors(REGISTER_FIELDS[name], exp);
    }
  });
  // Linux intel_svm_enable_prq: PQA = virt_to_phys(prq) | PRQ_ORDER; QEMU VTD_PQA_ADDR, VTD_PQA_SIZE 0x7.
  it('PQA_REG field positions', () => {
    fieldVectors(PQA_FIELDS, { PQS: 0x7n, PQA: 0xfffffffffffff000n });
  });
});

describe('registers of a running unit (hardware view)', () => {
  it('RTADDR holds the root table with TTM = 01b, IQA the queue with DW and QS = 1, GSTS says enabled', () => {
    const { m, driver } = vtdMachine();
    const r = m.iommu.registers();
    expect(r.RTADDR_REG).toBe(driver.tables.rootAddr | 0x400n);
    expect(r.IQA_REG).toBe((BigInt(driver.qi.base) << 12n) | 0x801n);
    expect(decodeRegister('GSTS_REG', r.GSTS_REG)).toMatchObject({ TES: true, RTPS: true, QIES: true });
    expect(r.IQH_REG).toBe(r.IQT_REG); // the unit has run the queue up to the tail
    expect(r.IQT_REG & 0x1fn).toBe(0n); // 256-bit descriptors: index << 5
    expect(Object.keys(r).filter((k) => k.startsWith('FRCD_REG'))).toHaveLength(8);
  });

  it('GET_INFO is derived from CAP/ECAP: address width, page sizes, PASID width, nesting, formats', () => {
    const { m } = vtdMachine({ devices: [{ name: 'dev0', ats: true, pri: true }, { name: 'dev1' }] });
    const regs = m.iommu.registers();
    const cap = decodeRegister('CAP_REG', regs.CAP_REG);
    const ecap = decodeRegister('ECAP_REG', regs.ECAP_REG);
    const info = m.device('dev0').getInfo();
    const aw = Math.min((cap.MGAW as number) + 1, (cap.SAGAW as number) & 8 ? 57 : 48);
    expect(info.permittedRanges).toEqual([
      { start: 0n, last: 0xfedfffffn },
      { start: 0xfef00000n, last: (1n << BigInt(aw)) - 1n },
    ]);
    expect(info.pageSizes).toEqual(slPageSizes(regs.CAP_REG));
    expect(info.pageSizes).toEqual([4096n, 2n * 1024n * 1024n, 1024n * 1024n * 1024n]);
    expect(info.pasidBits).toBe((ecap.PSS as number) + 1);
    expect(info.nesting).toBe(ecap.NEST ? 'hardware' : 'software');
    expect(info.formats).toEqual([{ kind: 'vtd-first-level', levels: 4 }, ...(cap.FL5LP ? [{ kind: 'vtd-first-level', levels: 5 }] : [])]);
    expect(info.pasidTableFormats).toEqual([]);
    expect(info.protocols).toEqual(['map', 'user-pgtable']);
    expect(info).toMatchObject({ ats: ecap.DT, pageRequest: ecap.PRS, coherent: ecap.C });
    expect(m.device('dev1').getInfo()).toMatchObject({ ats: false, pageRequest: false, enqcmd: false });
  });

  it('a 57-bit unit reports 5-level widths', () => {
    const { m } = vtdMachine({ vtdAddressWidth: 57 });
    expect(m.device('dev0').getInfo().permittedRanges[1].last).toBe((1n << 57n) - 1n);
  });

  it('reading registers has no side effect', () => {
    const unit = new VtdUnit(newHost());
    expect(unit.registers()).toEqual(unit.registers());
  });
});
