import { addrField, bitField, type BitField, getFieldBig, setFieldBig } from '@ioasid/core';
import { decodeFields } from '../bits.js';

/**
 * The unit's architectural registers and their fields. Offsets and positions as Linux
 * drivers/iommu/intel/iommu.h (DMAR_*_REG, cap_*() and ecap_*() decoders, DMA_GSTS_*, DMA_FSTS_*,
 * DMA_FECTL_IM, DMA_FRCD_*, DMA_RTADDR_SMT, DMA_PRS_*) and QEMU hw/i386/intel_iommu_internal.h
 * (VTD_CAP_*, VTD_ECAP_*, VTD_RTADDR_SMT, VTD_IQA_*, VTD_IQH_QH_*, VTD_IQT_QT, VTD_FSTS_*, VTD_FECTL_*,
 * VTD_FRCD_*, VTD_PQA_*) give them.
 */
export const REG_OFFSET = {
  VER_REG: 0x0,
  CAP_REG: 0x8,
  ECAP_REG: 0x10,
  GCMD_REG: 0x18,
  GSTS_REG: 0x1c,
  RTADDR_REG: 0x20,
  FSTS_REG: 0x34,
  FECTL_REG: 0x38,
  IQH_REG: 0x80,
  IQT_REG: 0x88,
  IQA_REG: 0x90,
  ICS_REG: 0x9c,
  PQH_REG: 0xc0,
  PQT_REG: 0xc8,
  PQA_REG: 0xd0,
  PRS_REG: 0xdc,
  IOTLB_REG_OFFSET: 0xf0,
  FRCD_REG_OFFSET: 0x220,
} as const;

// ---- VER_REG (32-bit) ----------------------------------------------------------------------
export const VER_MIN = bitField('MIN', 3, 0);
export const VER_MAX = bitField('MAX', 7, 4);
export const VER_FIELDS = [VER_MIN, VER_MAX] as const;
/**
 * Architecture version 3.0: the first with scalable-mode translation (QEMU reports 0x30 when its
 * scalable mode is on; Linux prints DMAR_VER_REG's MAX.MIN at boot).
 */
export const VTD_VERSION = 0x30n;

// ---- CAP_REG -------------------------------------------------------------------------------
export const CAP_ND = bitField('ND', 2, 0);
export const CAP_AFL = bitField('AFL', 3);
export const CAP_RWBF = bitField('RWBF', 4);
export const CAP_PLMR = bitField('PLMR', 5);
export const CAP_PHMR = bitField('PHMR', 6);
export const CAP_CM = bitField('CM', 7);
export const CAP_SAGAW = bitField('SAGAW', 12, 8);
export const CAP_MGAW = bitField('MGAW', 21, 16);
export const CAP_ZLR = bitField('ZLR', 22);
export const CAP_FRO = bitField('FRO', 33, 24);
export const CAP_SLLPS = bitField('SLLPS', 37, 34);
export const CAP_PSI = bitField('PSI', 39);
export const CAP_NFR = bitField('NFR', 47, 40);
export const CAP_MAMV = bitField('MAMV', 53, 48);
export const CAP_DWD = bitField('DWD', 54);
export const CAP_DRD = bitField('DRD', 55);
export const CAP_FL1GP = bitField('FL1GP', 56);
export const CAP_PI = bitField('PI', 59);
export const CAP_FL5LP = bitField('FL5LP', 60);
export const CAP_ECMDS = bitField('ECMDS', 61);
export const CAP_ESIRTPS = bitField('ESIRTPS', 62);
export const CAP_ESRTPS = bitField('ESRTPS', 63);
export const CAP_FIELDS = [
  CAP_ND, CAP_AFL, CAP_RWBF, CAP_PLMR, CAP_PHMR, CAP_CM, CAP_SAGAW, CAP_MGAW, CAP_ZLR, CAP_FRO, CAP_SLLPS, CAP_PSI,
  CAP_NFR, CAP_MAMV, CAP_DWD, CAP_DRD, CAP_FL1GP, CAP_PI, CAP_FL5LP, CAP_ECMDS, CAP_ESIRTPS, CAP_ESRTPS,
] as const;

// ---- ECAP_REG ------------------------------------------------------------------------------
export const ECAP_C = bitField('C', 0);
export const ECAP_QI = bitField('QI', 1);
export const ECAP_DT = bitField('DT', 2);
export const ECAP_IR = bitField('IR', 3);
export const ECAP_EIM = bitField('EIM', 4);
export const ECAP_PT = bitField('PT', 6);
export const ECAP_SC = bitField('SC', 7);
export const ECAP_IRO = bitField('IRO', 17, 8);
export const ECAP_MHMV = bitField('MHMV', 23, 20);
export const ECAP_MTS = bitField('MTS', 25);
export const ECAP_NEST = bitField('NEST', 26);
export const ECAP_PRS = bitField('PRS', 29);
export const ECAP_ERS = bitField('ERS', 30);
export const ECAP_SRS = bitField('SRS', 31);
export const ECAP_NWFS = bitField('NWFS', 33);
export const ECAP_EAFS = bitField('EAFS', 34);
export const ECAP_PSS = bitField('PSS', 39, 35);
export const ECAP_PASID = bitField('PASID', 40);
export const ECAP_DIT = bitField('DIT', 41);
export const ECAP_PDS = bitField('PDS', 42);
export const ECAP_SMTS = bitField('SMTS', 43);
export const ECAP_VCS = bitField('VCS', 44);
/** Second-stage accessed/dirty support (the spec's SSADS, formerly SLADS; Linux ecap_slads, bit 45). */
export const ECAP_SLADS = bitField('SLADS', 45);
export const ECAP_SLTS = bitField('SLTS', 46);
export const ECAP_FLTS = bitField('FLTS', 47);
export const ECAP_SMPWCS = bitField('SMPWCS', 48);
export const ECAP_RPS = bitField('RPS', 49);
export const ECAP_PMS = bitField('PMS', 51);
export const ECAP_FIELDS = [
  ECAP_C, ECAP_QI, ECAP_DT, ECAP_IR, ECAP_EIM, ECAP_PT, ECAP_SC, ECAP_IRO, ECAP_MHMV, ECAP_MTS, ECAP_NEST, ECAP_PRS,
  ECAP_ERS, ECAP_SRS, ECAP_NWFS, ECAP_EAFS, ECAP_PSS, ECAP_PASID, ECAP_DIT, ECAP_PDS, ECAP_SMTS, ECAP_VCS, ECAP_SLADS,
  ECAP_SLTS, ECAP_FLTS, ECAP_SMPWCS, ECAP_RPS, ECAP_PMS,
] as const;

// ---- GCMD_REG / GSTS_REG (32-bit) ------------------------------------------------------------
export const GCMD_TE = 1 << 31;
export const GCMD_SRTP = 1 << 30;
export const GCMD_QIE = 1 << 26;
export const GSTS_TES = bitField('TES', 31);
export const GSTS_RTPS = bitField('RTPS', 30);
export const GSTS_FLS = bitField('FLS', 29);
export const GSTS_AFLS = bitField('AFLS', 28);
export const GSTS_WBFS = bitField('WBFS', 27);
export const GSTS_QIES = bitField('QIES', 26);
export const GSTS_IRES = bitField('IRES', 25);
export const GSTS_IRTPS = bitField('IRTPS', 24);
export const GSTS_CFIS = bitField('CFIS', 23);
export const GSTS_FIELDS = [GSTS_TES, GSTS_RTPS, GSTS_FLS, GSTS_AFLS, GSTS_WBFS, GSTS_QIES, GSTS_IRES, GSTS_IRTPS, GSTS_CFIS] as const;

// ---- RTADDR_REG ----------------------------------------------------------------------------
export const RTADDR_TTM = bitField('TTM', 11, 10);
export const RTADDR_RTA = addrField(bitField('RTA', 63, 12));
export const RTADDR_FIELDS = [RTADDR_TTM, RTADDR_RTA] as const;
/** Translation table mode: 00 legacy, 01 scalable (Linux DMA_RTADDR_SMT = bit 10). */
export const TTM_LEGACY = 0;
export const TTM_SCALABLE = 1;

// ---- Invalidation queue ----------------------------------------------------------------------
export const IQA_QS = bitField('QS', 2, 0);
export const IQA_DW = bitField('DW', 11);
export const IQA_IQA = addrField(bitField('IQA', 63, 12));
export const IQA_FIELDS = [IQA_QS, IQA_DW, IQA_IQA] as const;
/** Queue head/tail: bits 18:4 (an index << 4, or << 5 with 256-bit descriptors). */
export const IQH_QH = bitField('QH', 18, 4);
export const IQT_QT = bitField('QT', 18, 4);
export const ICS_IWC = bitField('IWC', 0);

// ---- Fault status / control / recording ------------------------------------------------------
export const FSTS_PFO = bitField('PFO', 0);
export const FSTS_PPF = bitField('PPF', 1);
export const FSTS_IQE = bitField('IQE', 4);
export const FSTS_ICE = bitField('ICE', 5);
export const FSTS_ITE = bitField('ITE', 6);
export const FSTS_PRO = bitField('PRO', 7);
export const FSTS_FRI = bitField('FRI', 15, 8);
export const FSTS_FIELDS = [FSTS_PFO, FSTS_PPF, FSTS_IQE, FSTS_ICE, FSTS_ITE, FSTS_PRO, FSTS_FRI] as const;
export const FECTL_IP = bitField('IP', 30);
export const FECTL_IM = bitField('IM', 31);
export const FECTL_FIELDS = [FECTL_IP, FECTL_IM] as const;

/** One 128-bit fault recording register (qword 0 = bits 63:0, qword 1 = bits 127:64). */
export const FRCD_FI = addrField(bitField('FI', 63, 12));
export const FRCD_SID = bitField('SID', 79, 64);
export const FRCD_PP = bitField('PP', 95);
export const FRCD_FR = bitField('FR', 103, 96);
export const FRCD_PV = bitField('PV', 123, 104);
export const FRCD_T = bitField('T', 126);
export const FRCD_F = bitField('F', 127);
export const FRCD_FIELDS = [FRCD_FI, FRCD_SID, FRCD_PP, FRCD_FR, FRCD_PV, FRCD_T, FRCD_F] as const;

// ---- Page request queue --------------------------------------------------------------------
export const PQA_PQS = bitField('PQS', 2, 0);
export const PQA_PQA = addrField(bitField('PQA', 63, 12));
export const PQA_FIELDS = [PQA_PQS, PQA_PQA] as const;
export const PQH_PQH = bitField('PQH', 18, 5);
export const PQT_PQT = bitField('PQT', 18, 5);
export const PRS_PPR = bitField('PPR', 0);
export const PRS_PRO = bitField('PRO', 1);
export const PRS_FIELDS = [PRS_PPR, PRS_PRO] as const;

/** Every register's field list, for decoding a `registers()` snapshot. */
export const REGISTER_FIELDS: Record<string, readonly BitField[]> = {
  VER_REG: VER_FIELDS,
  CAP_REG: CAP_FIELDS,
  ECAP_REG: ECAP_FIELDS,
  GSTS_REG: GSTS_FIELDS,
  RTADDR_REG: RTADDR_FIELDS,
  FSTS_REG: FSTS_FIELDS,
  FECTL_REG: FECTL_FIELDS,
  IQA_REG: IQA_FIELDS,
  IQH_REG: [IQH_QH],
  IQT_REG: [IQT_QT],
  ICS_REG: [ICS_IWC],
  PQA_REG: PQA_FIELDS,
  PQH_REG: [PQH_PQH],
  PQT_REG: [PQT_PQT],
  PRS_REG: PRS_FIELDS,
};

export function decodeRegister(name: string, value: bigint): Record<string, bigint | number | boolean> {
  const fields = name.startsWith('FRCD_REG') ? FRCD_FIELDS : REGISTER_FIELDS[name];
  if (!fields) throw new Error(`unknown register ${name}`);
  return decodeFields([value & ((1n << 64n) - 1n), value >> 64n], fields);
}

export const reg = (v: bigint, f: BitField): number => Number(getFieldBig([v, 0n], f));
export const regBig = (v: bigint, f: BitField): bigint => getFieldBig([v, 0n], f);
export function withField(v: bigint, f: BitField, value: bigint | number | boolean): bigint {
  const q = [v];
  setFieldBig(q, f, value);
  return q[0];
}

// ---- The values this model's unit reports ---------------------------------------------------

export interface UnitConfig {
  /** Widest second-level address width: 48 (SAGAW 4-level) or 57 (SAGAW 4- and 5-level). */
  addressWidth: 48 | 57;
  /** Fault recording registers (CAP.NFR + 1). */
  faultRecords: number;
}

export const DEFAULT_UNIT_CONFIG: UnitConfig = { addressWidth: 48, faultRecords: 8 };

/** SAGAW bit n = AGAW n supported: bit 1 = 39-bit/3-level, bit 2 = 48-bit/4-level, bit 3 = 57-bit/5-level (QEMU VTD_CAP_SAGAW_*). */
export const SAGAW_39 = 1 << 1;
export const SAGAW_48 = 1 << 2;
export const SAGAW_57 = 1 << 3;

/**
 * CAP_REG of this unit: 64K domains, caching mode off (not-present entries are never cached),
 * SAGAW/MGAW per the address width, zero-length reads, fault recording at 0x220, 2 MiB + 1 GiB
 * second-level pages, page-selective invalidation with MAMV 18, read/write draining, 1 GiB and
 * 5-level first-level paging.
 */
export function buildCap(cfg: UnitConfig): bigint {
  let v = 0n;
  v = withField(v, CAP_ND, 6);
  v = withField(v, CAP_SAGAW, cfg.addressWidth === 57 ? SAGAW_48 | SAGAW_57 : SAGAW_48);
  v = withField(v, CAP_MGAW, cfg.addressWidth - 1);
  v = withField(v, CAP_ZLR, 1);
  v = withField(v, CAP_FRO, REG_OFFSET.FRCD_REG_OFFSET / 16);
  v = withField(v, CAP_SLLPS, 0b0011);
  v = withField(v, CAP_PSI, 1);
  v = withField(v, CAP_NFR, cfg.faultRecords - 1);
  v = withField(v, CAP_MAMV, 18);
  v = withField(v, CAP_DWD, 1);
  v = withField(v, CAP_DRD, 1);
  v = withField(v, CAP_FL1GP, 1);
  v = withField(v, CAP_FL5LP, 1);
  return v;
}

/**
 * ECAP_REG: coherent page walks, queued invalidation, device-TLB, pass-through, snoop control,
 * IOTLB registers at 0xf0, nesting, page requests, supervisor requests, 20-bit PASIDs,
 * scalable mode with first-level, second-level and nested translation, second-stage accessed/dirty
 * flags (SSADS), snooped PASID-table walks.
 */
export function buildEcap(): bigint {
  let v = 0n;
  v = withField(v, ECAP_C, 1);
  v = withField(v, ECAP_QI, 1);
  v = withField(v, ECAP_DT, 1);
  v = withField(v, ECAP_PT, 1);
  v = withField(v, ECAP_SC, 1);
  v = withField(v, ECAP_IRO, REG_OFFSET.IOTLB_REG_OFFSET / 16);
  v = withField(v, ECAP_NEST, 1);
  v = withField(v, ECAP_PRS, 1);
  v = withField(v, ECAP_SRS, 1);
  v = withField(v, ECAP_PSS, 19);
  v = withField(v, ECAP_PASID, 1);
  v = withField(v, ECAP_SMTS, 1);
  v = withField(v, ECAP_SLADS, 1);
  v = withField(v, ECAP_SLTS, 1);
  v = withField(v, ECAP_FLTS, 1);
  v = withField(v, ECAP_SMPWCS, 1);
  return v;
}

// ---- Decoders the driver uses (as Linux's cap_*/ecap_* macros do) ----------------------------

/** Widest AGAW width SAGAW offers: 57, 48 or 39 (Linux iommu_calculate_max_sagaw). */
export function widestSagaw(cap: bigint): number {
  const s = reg(cap, CAP_SAGAW);
  if (s & SAGAW_57) return 57;
  if (s & SAGAW_48) return 48;
  if (s & SAGAW_39) return 39;
  return 0;
}

/** Domain IDs the unit supports: 2^(4 + 2·ND) (Linux cap_ndoms; ND 6 gives 64K). */
export function capNdoms(cap: bigint): number {
  return 2 ** (4 + 2 * reg(cap, CAP_ND));
}

export function capMgaw(cap: bigint): number {
  return reg(cap, CAP_MGAW) + 1;
}

/** The address width the unit offers: min(MGAW, widest SAGAW). */
export function unitAddressWidth(cap: bigint): number {
  return Math.min(capMgaw(cap), widestSagaw(cap));
}

/** Second-level page sizes: 4 KiB plus 2 MiB / 1 GiB per SLLPS bits 0 / 1. */
export function slPageSizes(cap: bigint): bigint[] {
  const s = reg(cap, CAP_SLLPS);
  const out = [1n << 12n];
  if (s & 1) out.push(1n << 21n);
  if (s & 2) out.push(1n << 30n);
  return out;
}

export function flPageSizes(cap: bigint): bigint[] {
  return reg(cap, CAP_FL1GP) ? [1n << 12n, 1n << 21n, 1n << 30n] : [1n << 12n, 1n << 21n];
}

export function pasidBits(ecap: bigint): number {
  return reg(ecap, ECAP_PASID) ? reg(ecap, ECAP_PSS) + 1 : 0;
}
