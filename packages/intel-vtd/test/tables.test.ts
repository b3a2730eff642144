import { describe, expect, it } from 'vitest';
import { setFieldBig, type BitField } from '@ioasid/core';
import {
  CTX_FIELDS, PE_FIELDS, PDE_FIELDS, ROOT_FIELDS, PRD_FIELDS,
  encodeRootEntry, decodeRootEntry, encodeContextEntry, decodeContextEntry, encodePasidDirEntry, decodePasidDirEntry,
  encodePasidEntry, decodePasidEntry, encodeInvDesc, decodeInvDesc, devTlbRange, devTlbEncode, encodePageRequest, decodePageRequest,
  INV_DESC_FIELDS, contextEntryAddr, pasidDirEntryAddr, pasidEntryAddr, rootEntryAddr, contextReserved, rootReserved, type InvDesc,
} from '../src/index.js';

/** The structure's qwords with only `f` set to all ones. */
function ones(f: BitField, qwords: number): bigint[] {
  const q = new Array<bigint>(qwords).fill(0n);
  setFieldBig(q, f, (1n << BigInt(f.width)) - 1n);
  return q;
}

function vectors(fields: readonly BitField[], qwords: number, expected: Record<string, bigint[]>) {
  for (const f of fields) {
    expect(ones(f, qwords), f.name).toEqual(expected[f.name]);
  }
  expect(Object.keys(expected).sort()).toEqual(fields.map((f) => f.name).sort());
}

describe('root entry (scalable mode)', () => {
  // QEMU hw/i386/intel_iommu_internal.h VTD_ROOT_ENTRY_P = 1, VTD_ROOT_ENTRY_CTP = ~0xfff, applied to lo (devfn < 128)
  // and hi (devfn >= 128, VTD_DEVFN_CHECK_MASK 0x80); Linux struct root_entry (0: present, 12-63: context ptr).
  it('field vectors', () => {
    vectors(ROOT_FIELDS, 2, {
      LP: [0x1n, 0n],
      LCTP: [0xfffffffffffff000n, 0n],
      UP: [0n, 0x1n],
      UCTP: [0n, 0xfffffffffffff000n],
    });
  });
  it('encodes both halves and round-trips', () => {
    const q = encodeRootEntry({ lp: true, lctp: 0x1234000n, up: true, uctp: 0x5678000n });
    expect(q).toEqual([0x1234001n, 0x5678001n]);
    expect(decodeRootEntry(q)).toEqual({ lp: true, lctp: 0x1234000n, up: true, uctp: 0x5678000n });
    expect(rootEntryAddr(0x10000n, 3)).toBe(0x10030n);
  });
  it('reserved bits: 11:1 and HAW..63 (QEMU VTD_ROOT_ENTRY_RSVD(aw) = 0xffe | ~HAW_MASK)', () => {
    expect(rootReserved(48)).toBe(0xffff000000000ffen);
  });
});

describe('scalable-mode context entry', () => {
  // Linux drivers/iommu/intel/iommu.h: context_set_sm_dte BIT(2), CONTEXT_PASIDE BIT(3), context_set_sm_pre BIT(4),
  // context_pdts(pds) ((pds & 7) << 9), context_set_sm_rid2pasid hi bits 19:0 (+ bit 20 RID_PRIV in older code);
  // QEMU VTD_CONTEXT_ENTRY_P BIT(0), VTD_CONTEXT_ENTRY_FPD BIT(1), VTD_SM_CONTEXT_ENTRY_PDTS ((val >> 9) & 7),
  // VTD_SM_CONTEXT_ENTRY_PRE 0x10, VTD_SM_CONTEXT_ENTRY_RID2PASID_MASK 0xfffff, VTD_PASID_DIR_BASE_ADDR_MASK ~0xfff.
  it('field vectors', () => {
    vectors(CTX_FIELDS, 4, {
      P: [0x1n, 0n, 0n, 0n],
      FPD: [0x2n, 0n, 0n, 0n],
      DTE: [0x4n, 0n, 0n, 0n],
      PASIDE: [0x8n, 0n, 0n, 0n],
      PRE: [0x10n, 0n, 0n, 0n],
      PDTS: [0xe00n, 0n, 0n, 0n],
      PASIDDIRPTR: [0xfffffffffffff000n, 0n, 0n, 0n],
      RID_PASID: [0n, 0xfffffn, 0n, 0n],
      RID_PRIV: [0n, 0x100000n, 0n, 0n],
    });
  });
  it('encodes what Linux context_entry_set_pasid_table writes', () => {
    const e = { p: true, fpd: false, dte: true, paside: true, pre: true, pdts: 7, pasidDirPtr: 0xabc000n, ridPasid: 0x12345, ridPriv: true };
    const q = encodeContextEntry(e);
    expect(q).toEqual([0xabce1dn, 0x112345n, 0n, 0n]);
    expect(decodeContextEntry(q)).toEqual(e);
    expect(contextEntryAddr(0x5000n, 0x88)).toBe(0x5000n + 8n * 32n);
  });
  it('reserved bits: lo 8:5 and ≥ HAW, hi 63:21, qwords 2-3 (QEMU VTD_SM_CONTEXT_ENTRY_RSVD_VAL0/VAL1)', () => {
    expect(contextReserved(48)).toEqual([0xffff0000000001e0n, 0xffffffffffe00000n, 0xffffffffffffffffn, 0xffffffffffffffffn]);
  });
});

describe('PASID directory entry', () => {
  // Linux drivers/iommu/intel/pasid.h PASID_PTE_PRESENT 1, PASID_PTE_FPD 2, PDE_PFN_MASK PAGE_MASK, PASID_PDE_SHIFT 6;
  // QEMU VTD_PASID_DIR_FPD (1 << 1), VTD_PASID_TABLE_BASE_ADDR_MASK ~0xfff, VTD_PASID_DIR_INDEX(pasid) (pasid >> 6).
  it('field vectors', () => {
    vectors(PDE_FIELDS, 1, { P: [0x1n], FPD: [0x2n], PTP: [0xfffffffffffff000n] });
  });
  it('encodes, decodes and indexes by PASID >> 6', () => {
    expect(encodePasidDirEntry({ p: true, fpd: false, ptp: 0x77000n })).toBe(0x77001n);
    expect(decodePasidDirEntry(0x77003n)).toEqual({ p: true, fpd: true, ptp: 0x77000n });
    expect(pasidDirEntryAddr(0x100000n, 0x12345)).toBe(0x100000n + BigInt((0x12345 >> 6) * 8));
    expect(pasidEntryAddr(0x200000n, 0x12345)).toBe(0x200000n + BigInt((0x12345 & 63) * 64));
  });
});

describe('scalable-mode PASID table entry', () => {
  // Linux drivers/iommu/intel/pasid.h: pasid_set_present bit 0, FPD bit 1, pasid_set_address_width GENMASK(4,2),
  // pasid_set_translation_type GENMASK(8,6), pasid_set_ssade bit 9, pasid_set_slptr VTD_PAGE_MASK of val[0],
  // pasid_set_domain_id GENMASK(15,0) of val[1], pasid_set_page_snoop bit 87, pasid_set_pgsnp bit 88,
  // pasid_set_sre bit 128, pasid_set_flpm GENMASK(3,2) of val[2], pasid_set_wpe bit 132, pasid_set_nxe bit 133,
  // pasid_set_eafe bit 135, pasid_set_flptr VTD_PAGE_MASK of val[2]; Linux intel-pasid.c (v5.x) pasid_set_cd bit 89,
  // pasid_set_emte bit 90, pasid_set_emt bits 93:91, pasid_set_pwt bit 94, pasid_set_pcd bit 95, pasid_set_pat 127:96.
  // QEMU VTD_SM_PASID_ENTRY_PGTT (7 << 6), VTD_SM_PASID_ENTRY_AW 7 (val[0] >> 2), VTD_SM_PASID_ENTRY_FLPM 3 (val[2] >> 2).
  // SLEE (bit 5) and ERE (bit 129) are the spec's second-level / first-level execute enables.
  it('field vectors', () => {
    const z = (k: number, v: bigint) => {
      const q = new Array<bigint>(8).fill(0n);
      q[k] = v;
      return q;
    };
    vectors(PE_FIELDS, 8, {
      P: z(0, 0x1n),
      FPD: z(0, 0x2n),
      AW: z(0, 0x1cn),
      SLEE: z(0, 0x20n),
      PGTT: z(0, 0x1c0n),
      SLADE: z(0, 0x200n),
      SLPTPTR: z(0, 0xfffffffffffff000n),
      DID: z(1, 0xffffn),
      PWSNP: z(1, 0x800000n),
      PGSNP: z(1, 0x1000000n),
      CD: z(1, 0x2000000n),
      EMTE: z(1, 0x4000000n),
      EMT: z(1, 0x38000000n),
      PWT: z(1, 0x40000000n),
      PCD: z(1, 0x80000000n),
      PAT: z(1, 0xffffffff00000000n),
      SRE: z(2, 0x1n),
      ERE: z(2, 0x2n),
      FLPM: z(2, 0xcn),
      WPE: z(2, 0x10n),
      NXE: z(2, 0x20n),
      EAFE: z(2, 0x80n),
      FLPTPTR: z(2, 0xfffffffffffff000n),
    });
  });
  it('a second-level-only entry as Linux intel_pasid_setup_second_level writes it', () => {
    const e = { p: true, fpd: false, aw: 2, pgtt: 2, slptptr: 0x1234000n, did: 5, pwsnp: true, pgsnp: false, sre: false, wpe: false, eafe: false, flpm: 0, flptptr: 0n, slade: false };
    const q = encodePasidEntry(e);
    // P | AW=2 (4-level) << 2 | PGTT=010b << 6 | SLPTPTR
    expect(q[0]).toBe(0x1234000n | 0x1n | 0x8n | 0x80n);
    expect(q[1]).toBe(5n | (1n << 23n));
    expect(q.slice(2)).toEqual([0n, 0n, 0n, 0n, 0n, 0n]);
    expect(decodePasidEntry(q)).toEqual(e);
  });
  it('a nested entry as Linux intel_pasid_setup_nested writes it (5-level first level)', () => {
    const q = encodePasidEntry({ p: true, fpd: false, aw: 2, pgtt: 3, slptptr: 0x9000n, did: 7, pwsnp: true, pgsnp: false, sre: false, wpe: false, eafe: false, flpm: 1, flptptr: 0x3fff0000n });
    expect(q[0]).toBe(0x9000n | 0x1n | 0x8n | 0xc0n);
    expect(q[2]).toBe(0x3fff0000n | 0x4n);
  });
});

describe('invalidation descriptors (256-bit)', () => {
  const cases: [string, InvDesc, bigint[]][] = [
    // Linux QI_CC_TYPE 1, QI_CC_GRAN(DMA_CCMD_DEVICE_INVL) = 3 << 4, QI_CC_DID(did) << 16, QI_CC_SID(sid) << 32, QI_CC_FM(fm) << 48.
    ['context-cache device-selective', { type: 'cc', gran: 3, did: 0x22, sid: 0x0108, fm: 2 }, [0x0002010800220031n, 0n, 0n, 0n]],
    // Linux QI_IOTLB_TYPE 2, QI_IOTLB_GRAN(DMA_TLB_PSI_FLUSH) = 3 << 4, QI_IOTLB_DR << 7, QI_IOTLB_DW << 6, QI_IOTLB_DID << 16;
    // qw1 QI_IOTLB_ADDR | QI_IOTLB_IH << 6 | QI_IOTLB_AM.
    ['IOTLB page-selective', { type: 'iotlb', gran: 3, did: 9, addr: 0x7654000n, am: 4, ih: true, dr: true, dw: true }, [0x00000000000900f2n, 0x7654044n, 0n, 0n]],
    // Linux QI_DIOTLB_TYPE 3, QI_DEV_IOTLB_SID << 32, QI_DEV_IOTLB_QDEP << 16, QI_DEV_IOTLB_PFSID (bits 15:12, 63:52); qw1 ADDR | SIZE bit 0.
    ['device-TLB', { type: 'devtlb', sid: 0x10, pfsid: 0x123, qdep: 3, addr: 0x5000n, s: true }, [0x0120001000033003n, 0x5001n, 0n, 0n]],
    // Linux QI_IWD_TYPE 5, QI_IWD_STATUS_DATA << 32, QI_IWD_STATUS_WRITE bit 5, QI_IWD_FENCE bit 6, QI_IWD_PRQ_DRAIN bit 7; qw1 status address.
    ['wait', { type: 'wait', sw: true, fn: true, iflag: false, pd: false, statusData: 2, statusAddr: 0x88004n }, [0x0000000200000065n, 0x88004n, 0n, 0n]],
    // Linux QI_EIOTLB_TYPE 6, QI_EIOTLB_GRAN(QI_GRAN_PSI_PASID) 3 << 4, QI_EIOTLB_DID << 16, QI_EIOTLB_PASID << 32; qw1 ADDR | IH << 6 | AM.
    ['PASID-based IOTLB page-selective', { type: 'piotlb', gran: 3, did: 4, pasid: 0xabcde, addr: 0x200000n, am: 9, ih: false }, [0x000abcde00040036n, 0x200009n, 0n, 0n]],
    // Linux QI_PC_TYPE 7, QI_PC_GRAN(QI_PC_PASID_SEL) 1 << 4, QI_PC_DID << 16, QI_PC_PASID << 32.
    ['PASID-cache PASID-selective', { type: 'pc', gran: 1, did: 4, pasid: 0x11 }, [0x0000001100040017n, 0n, 0n, 0n]],
    // Linux QI_DEIOTLB_TYPE 8, QI_DEV_EIOTLB_SID << 16, QI_DEV_EIOTLB_QDEP << 4, QI_DEV_EIOTLB_PASID << 32, PFSID;
    // qw1 QI_DEV_EIOTLB_ADDR | QI_DEV_EIOTLB_SIZE bit 11 (QEMU VTD_INV_DESC_PASID_DEVICE_IOTLB_SIZE), global bit 0.
    ['PASID-based device-TLB', { type: 'dev-piotlb', sid: 0x10, pfsid: 0x10, qdep: 0, pasid: 0x5, addr: 0x3000n, s: true, g: false }, [0x0010000500100008n, 0x3800n, 0n, 0n]],
    // Linux QI_PGRP_RESP_TYPE 9, QI_PGRP_PASID_P << 4, QI_PGRP_RESP_CODE << 12, QI_PGRP_DID(rid) << 16, QI_PGRP_PASID << 32;
    // qw1 QI_PGRP_LPIG << 2, QI_PGRP_IDX << 3.
    ['page group response', { type: 'pgrp-resp', rid: 0x18, pasid: 0x42, pasidPresent: true, pdp: false, code: 1, lpig: true, prgi: 0x1ab }, [0x0000004200181019n, 0xd5cn, 0n, 0n]],
  ];
  for (const [name, d, q] of cases) {
    it(name, () => {
      expect(encodeInvDesc(d)).toEqual(q);
      const back = decodeInvDesc(q)!;
      expect(back.type).toBe(d.type);
      expect(encodeInvDesc(back)).toEqual(q);
    });
  }
  // Per field, all ones, as [qw0, qw1]: Linux drivers/iommu/intel/iommu.h QI_* macros and QEMU
  // hw/i386/intel_iommu_internal.h VTD_INV_DESC_* masks (TYPE 3:0, granularity 5:4, DID 31:16, SID 47:32, FM 49:48,
  // DW 6 / DR 7, qw1 AM 5:0, IH 6, ADDR 63:12; device-TLB PFSID 15:12 + 63:52, QDEP 20:16 (16-bit SID form) or 8:4
  // (PASID form, SID 31:16), S bit 0 / bit 11, G bit 0; wait IF 4, SW 5, FN 6, PD 7, data 63:32, address 63:2;
  // page group response PASID_P 4, PDP 5, RESP_CODE 15:12, RID 31:16, PASID 51:32, LPIG 2 and PRGI 11:3 of qw1).
  it('field vectors of every descriptor type', () => {
    const T = [0xfn, 0n];
    const G = [0x30n, 0n];
    const ADDR = [0n, 0xfffffffffffff000n];
    const exp: Record<string, Record<string, bigint[]>> = {
      cc: { TYPE: T, G, DID: [0xffff0000n, 0n], SID: [0xffff00000000n, 0n], FM: [0x3000000000000n, 0n] },
      iotlb: { TYPE: T, G, DW: [0x40n, 0n], DR: [0x80n, 0n], DID: [0xffff0000n, 0n], AM: [0n, 0x3fn], IH: [0n, 0x40n], ADDR },
      devtlb: { TYPE: T, PFSID_LO: [0xf000n, 0n], QDEP: [0x1f0000n, 0n], SID: [0xffff00000000n, 0n], PFSID_HI: [0xfff0000000000000n, 0n], S: [0n, 1n], ADDR },
      wait: { TYPE: T, IF: [0x10n, 0n], SW: [0x20n, 0n], FN: [0x40n, 0n], PD: [0x80n, 0n], STATUS_DATA: [0xffffffff00000000n, 0n], STATUS_ADDR: [0n, 0xfffffffffffffffcn] },
      piotlb: { TYPE: T, G, DID: [0xffff0000n, 0n], PASID: [0xfffff00000000n, 0n], AM: [0n, 0x3fn], IH: [0n, 0x40n], ADDR },
      pc: { TYPE: T, G, DID: [0xffff0000n, 0n], PASID: [0xfffff00000000n, 0n] },
      'dev-piotlb': {
        TYPE: T, QDEP: [0x1f0n, 0n], PFSID_LO: [0xf000n, 0n], SID: [0xffff0000n, 0n], PASID: [0xfffff00000000n, 0n], PFSID_HI: [0xfff0000000000000n, 0n],
        G: [0n, 1n], S: [0n, 0x800n], ADDR,
      },
      'pgrp-resp': { TYPE: T, PASID_P: [0x10n, 0n], PDP: [0x20n, 0n], RESP_CODE: [0xf000n, 0n], RID: [0xffff0000n, 0n], PASID: [0xfffff00000000n, 0n], LPIG: [0n, 4n], PRGI: [0n, 0xff8n] },
    };
    for (const [type, fields] of Object.entries(INV_DESC_FIELDS)) {
      const e = Object.fromEntries(Object.entries(exp[type]).map(([k, v]) => [k, [...v, 0n, 0n]]));
      vectors(fields, 4, e);
    }
  });
  it('unknown types decode as null (an invalidation-queue error)', () => {
    expect(decodeInvDesc([0xfn, 0n, 0n, 0n])).toBeNull();
  });
  it('the type is 7 bits, Type[6:4] in bits 11:9: 2h with bit 9 set is 12h, not an IOTLB descriptor (QEMU VTD_INV_DESC_TYPE)', () => {
    expect(decodeInvDesc([0x12n, 0n, 0n, 0n])!.type).toBe('iotlb');
    expect(decodeInvDesc([0x212n, 0n, 0n, 0n])).toBeNull();
    expect(decodeInvDesc([0xe05n, 0n, 0n, 0n])).toBeNull(); // 75h
  });
  it('device-TLB size encoding: the first 0 bit from bit 12 gives the range (Linux qi_flush_dev_iotlb, VT-d 6.5.2.5)', () => {
    expect(devTlbEncode(0x4000n, 0)).toEqual({ addr: 0x4000n, s: false });
    expect(devTlbEncode(0x4000n, 1)).toEqual({ addr: 0x4000n, s: true }); // 8 KiB: bit 12 clear
    expect(devTlbRange(0x4000n, true)).toEqual({ start: 0x4000n, size: 0x2000n });
    expect(devTlbEncode(0x8000n, 3)).toEqual({ addr: 0x9000n | 0x2000n, s: true }); // 32 KiB: bits 13:12 set
    expect(devTlbRange(0xb000n, true)).toEqual({ start: 0x8000n, size: 0x8000n });
    expect(devTlbRange(devTlbEncode(0n, 52).addr, true)).toEqual({ start: 0n, size: 1n << 64n });
  });
});

describe('page request descriptor', () => {
  // Linux prq.c struct page_req_dsc: type 7:0, pasid_present bit 8, rid 31:16, pasid 51:32, exe_req 52, pm_req 53;
  // qw1 rd_req 0, wr_req 1, lpig 2, prg_index 11:3, addr 63:12. QEMU VTD_PRD_* give the same positions.
  it('field vectors', () => {
    const exp: Record<string, bigint[]> = {
      TYPE: [0xffn, 0n, 0n, 0n],
      PP: [0x100n, 0n, 0n, 0n],
      PDP: [0x200n, 0n, 0n, 0n],
      RID: [0xffff0000n, 0n, 0n, 0n],
      PASID: [0xfffff00000000n, 0n, 0n, 0n],
      EXR: [1n << 52n, 0n, 0n, 0n],
      PMR: [1n << 53n, 0n, 0n, 0n],
      RDR: [0n, 1n, 0n, 0n],
      WRR: [0n, 2n, 0n, 0n],
      LPIG: [0n, 4n, 0n, 0n],
      PRGI: [0n, 0xff8n, 0n, 0n],
      ADDR: [0n, 0xfffffffffffff000n, 0n, 0n],
    };
    vectors(PRD_FIELDS, 4, exp);
  });
  it('encodes a write request with PASID', () => {
    const r = { rid: 0x10, pasidPresent: true, pasid: 3, privileged: false, read: false, write: true, lpig: true, prgi: 5, addr: 0x7000n };
    const q = encodePageRequest(r);
    expect(q).toEqual([0x0000000300100101n, 0x702en, 0n, 0n]);
    expect(decodePageRequest(q)).toEqual(r);
  });
});
