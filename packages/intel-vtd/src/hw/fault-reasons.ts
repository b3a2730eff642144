/**
 * DMA-remapping fault reasons this unit reports, with QEMU's numbering and names
 * (hw/i386/intel_iommu_internal.h enum VTDFaultReason; `name` is the VTD_FR_ suffix).
 */
export const FR = {
  ROOT_ENTRY_P: 0x1,
  CONTEXT_ENTRY_P: 0x2,
  CONTEXT_ENTRY_INV: 0x3,
  ADDR_BEYOND_MGAW: 0x4,
  WRITE: 0x5,
  READ: 0x6,
  PAGING_ENTRY_INV: 0x7,
  ROOT_TABLE_INV: 0x8,
  CONTEXT_TABLE_INV: 0x9,
  ROOT_ENTRY_RSVD: 0xa,
  CONTEXT_ENTRY_RSVD: 0xb,
  PAGING_ENTRY_RSVD: 0xc,
  RTADDR_INV_TTM: 0x31,
  PASID_DIR_ACCESS_ERR: 0x50,
  PASID_DIR_ENTRY_P: 0x51,
  PASID_TABLE_ACCESS_ERR: 0x58,
  PASID_ENTRY_P: 0x59,
  PASID_TABLE_ENTRY_INV: 0x5b,
  FS_PAGING_ENTRY_INV: 0x70,
  FS_PAGING_ENTRY_P: 0x71,
  FS_PAGING_ENTRY_RSVD: 0x72,
  PASID_ENTRY_FSPTPTR_INV: 0x73,
  FS_NON_CANONICAL: 0x80,
  FS_PAGING_ENTRY_US: 0x81,
  SM_WRITE: 0x85,
  SM_INTERRUPT_ADDR: 0x87,
  FS_BIT_UPDATE_FAILED: 0x91,
} as const;

export type FaultName = keyof typeof FR;

const NAMES = new Map<number, FaultName>(Object.entries(FR).map(([k, v]) => [v, k as FaultName]));

export function faultName(code: number): FaultName | undefined {
  return NAMES.get(code);
}

/**
 * Faults qualified by the fault-processing-disable bits (recorded unless an FPD bit the walk read
 * is set), after QEMU's vtd_qualified_faults: those found at or below a present context entry.
 */
export function isQualified(code: number): boolean {
  return !(
    code === FR.ROOT_ENTRY_P ||
    code === FR.ROOT_TABLE_INV ||
    code === FR.CONTEXT_TABLE_INV ||
    code === FR.ROOT_ENTRY_RSVD ||
    code === FR.RTADDR_INV_TTM ||
    code === FR.PASID_DIR_ACCESS_ERR ||
    code === FR.PASID_TABLE_ACCESS_ERR
  );
}

/** First-level faults a page request can resolve (a not-present page, or a write to a read-only one). */
export function isRecoverable(code: number): boolean {
  return code === FR.FS_PAGING_ENTRY_P || code === FR.SM_WRITE;
}
