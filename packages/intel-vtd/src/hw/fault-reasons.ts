/**
 * The scalable-mode DMA-remapping fault reasons this unit reports (VT-d spec §7.1.3, the table of
 * scalable-mode non-recoverable fault conditions: 30h and up; Linux drivers/iommu/intel/dmar.c
 * dma_remap_sm_fault_reasons gives one string per code). The unit runs in scalable mode only
 * (RTADDR_REG.TTM = 01b), so the legacy-mode reasons (1h–Dh) are never reported.
 *
 * `name` is QEMU's VTD_FR_ suffix (hw/i386/intel_iommu_internal.h enum VTDFaultReason) where QEMU
 * defines the code; the others follow its style, from the spec's condition. `qualified`: the
 * fault is not recorded when a fault-processing-disable (FPD) bit the walk read is set (QEMU
 * vtd_qualified_faults; the spec's table marks each condition). `meaning` is the condition in one
 * line, for fault records.
 */
const REASONS = {
  RTADDR_INV: { code: 0x30, qualified: false, meaning: 'RTADDR_REG selects a translation-table mode this unit does not implement (TTM 10b or 11b)' },
  RTADDR_INV_TTM: { code: 0x31, qualified: false, meaning: 'RTADDR_REG.TTM is 00b (legacy mode), which this scalable-mode unit cannot walk' },
  SM_ROOT_TABLE_INV: { code: 0x38, qualified: false, meaning: 'the root entry could not be read: the root table address has no memory behind it' },
  SM_ROOT_ENTRY_P: { code: 0x39, qualified: false, meaning: 'the half of the root entry for this devfn (LP or UP) is not present' },
  SM_ROOT_ENTRY_RSVD: { code: 0x3a, qualified: false, meaning: 'a reserved bit is set in the root entry' },
  SM_CONTEXT_TABLE_INV: { code: 0x40, qualified: false, meaning: 'the context entry could not be read: the context table pointer has no memory behind it' },
  SM_CONTEXT_ENTRY_P: { code: 0x41, qualified: true, meaning: 'the scalable-mode context entry of the requester is not present' },
  SM_CONTEXT_ENTRY_RSVD: { code: 0x42, qualified: false, meaning: 'a reserved bit is set in the scalable-mode context entry' },
  SM_DTE_ABS: { code: 0x44, qualified: true, meaning: 'a translated request, but the context entry does not enable the device-TLB (DTE = 0)' },
  SM_PASIDE_ABS: { code: 0x45, qualified: true, meaning: 'a request with PASID, but the context entry does not enable PASIDs (PASIDE = 0)' },
  SM_PASID_BEYOND_PDTS: { code: 0x46, qualified: true, meaning: 'the request\'s PASID is beyond the PASID directory size the context entry gives (PDTS)' },
  SM_RID_PASID_INV: { code: 0x48, qualified: true, meaning: 'the context entry\'s RID_PASID, used for a request without PASID, is beyond its PASID directory (PDTS)' },
  SM_EPTR_ABS: { code: 0x49, qualified: true, meaning: 'a translated request with PASID, but the context entry does not enable PASIDs in translated requests (EPTR = 0)' },
  PASID_DIR_ACCESS_ERR: { code: 0x50, qualified: false, meaning: 'the PASID directory entry could not be read: the directory pointer has no memory behind it' },
  PASID_DIR_ENTRY_P: { code: 0x51, qualified: true, meaning: 'the PASID directory entry covering this PASID is not present' },
  PASID_DIR_ENTRY_RSVD: { code: 0x52, qualified: true, meaning: 'a reserved bit is set in the PASID directory entry' },
  PASID_TABLE_ACCESS_ERR: { code: 0x58, qualified: false, meaning: 'the PASID table entry could not be read: the PASID table pointer has no memory behind it' },
  PASID_ENTRY_P: { code: 0x59, qualified: true, meaning: 'the PASID table entry is not present' },
  PASID_TABLE_ENTRY_INV: { code: 0x5b, qualified: true, meaning: 'the PASID table entry asks for something the unit does not support (PGTT, AW or FLPM)' },
  SM_SRE_ABS: { code: 0x5d, qualified: true, meaning: 'a supervisor request, but the PASID entry does not allow them (SRE = 0)' },
  FS_PAGING_ENTRY_INV: { code: 0x70, qualified: true, meaning: 'a first-stage paging entry below the top could not be read: the table address has no memory behind it' },
  FS_PAGING_ENTRY_P: { code: 0x71, qualified: true, meaning: 'a first-stage paging entry is not present (P = 0)' },
  FS_PAGING_ENTRY_RSVD: { code: 0x72, qualified: true, meaning: 'a reserved bit is set in a present first-stage paging entry' },
  PASID_ENTRY_FSPTPTR_INV: { code: 0x73, qualified: true, meaning: 'the top first-stage table (the PASID entry\'s FSPTPTR) could not be read: no memory behind it' },
  NESTED_FS_ADDR_BEYOND_MGAW: { code: 0x74, qualified: true, meaning: 'nested: a guest-physical address from the first stage is beyond what the second stage translates' },
  NESTED_FS_PML4E_READ: { code: 0x75, qualified: true, meaning: 'nested: the second stage does not grant read access to the top first-stage table' },
  NESTED_FS_PAGING_ENTRY_READ: { code: 0x76, qualified: true, meaning: 'nested: the second stage does not grant read access to a first-stage table below the top' },
  NESTED_FS_PAGING_ENTRY_WRITE: { code: 0x77, qualified: true, meaning: 'nested: setting A/D in a first-stage entry needs write access the second stage does not grant' },
  SS_PAGING_ENTRY_INV: { code: 0x78, qualified: true, meaning: 'a second-stage paging entry below the top could not be read: the table address has no memory behind it' },
  SS_PAGING_ENTRY_P: { code: 0x79, qualified: true, meaning: 'a second-stage paging entry is not present (R and W both 0)' },
  SS_PAGING_ENTRY_RSVD: { code: 0x7a, qualified: true, meaning: 'a reserved bit is set in a present second-stage paging entry' },
  PASID_ENTRY_SSPTPTR_INV: { code: 0x7b, qualified: true, meaning: 'the top second-stage table (the PASID entry\'s SSPTPTR) could not be read: no memory behind it' },
  FS_NON_CANONICAL: { code: 0x80, qualified: true, meaning: 'the input address is not canonical for the first stage (its upper bits are not a sign extension)' },
  FS_PAGING_ENTRY_US: { code: 0x81, qualified: true, meaning: 'a user request reached a first-stage entry with U/S = 0 (supervisor only)' },
  SM_ADDR_BEYOND_MGAW: { code: 0x83, qualified: true, meaning: 'the input address is beyond what the second-stage table translates (its AW, at most MGAW), or a translated request\'s address is above HAW' },
  SM_WRITE: { code: 0x85, qualified: true, meaning: 'a write request, but the translation does not grant write access' },
  SM_READ: { code: 0x86, qualified: true, meaning: 'a read request, but the translation does not grant read access' },
  SM_INTERRUPT_ADDR: { code: 0x87, qualified: true, meaning: 'the translated address lies in the interrupt range 0xFEE00000–0xFEEFFFFF' },
} as const;

export type FaultName = keyof typeof REASONS;

/** Fault reason codes by name. */
export const FR = Object.fromEntries(Object.entries(REASONS).map(([k, v]) => [k, v.code])) as { readonly [K in FaultName]: (typeof REASONS)[K]['code'] };

const BY_CODE = new Map<number, { name: FaultName; qualified: boolean; meaning: string }>(
  Object.entries(REASONS).map(([k, v]) => [v.code, { name: k as FaultName, qualified: v.qualified, meaning: v.meaning }]),
);

export function faultName(code: number): FaultName | undefined {
  return BY_CODE.get(code)?.name;
}

/** The condition a code reports, in one line (a fault record's `explain`). */
export function faultMeaning(code: number): string | undefined {
  return BY_CODE.get(code)?.meaning;
}

/** Every code in the table with its name and meaning, lowest code first. */
export function faultReasons(): { code: number; name: FaultName; qualified: boolean; meaning: string }[] {
  return [...BY_CODE.entries()].sort((a, b) => a[0] - b[0]).map(([code, e]) => ({ code, ...e }));
}

/** Whether an FPD bit suppresses recording of this fault (VT-d §7.1.3: the table's qualified conditions). */
export function isQualified(code: number): boolean {
  return BY_CODE.get(code)?.qualified ?? false;
}

/**
 * First-stage faults a page request can resolve: a not-present page, or a write to a read-only
 * one. (The unit raises page requests only for faults met in the first stage.)
 */
export function isRecoverable(code: number): boolean {
  return code === FR.FS_PAGING_ENTRY_P || code === FR.SM_WRITE;
}
