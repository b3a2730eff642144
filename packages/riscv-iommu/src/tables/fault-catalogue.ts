import type { FaultDescription } from '@ioasid/core';

/** Table 11: fault-queue CAUSE codes, by the spec's mnemonics. */
export const CAUSE = {
  INST_ACCESS_FAULT: 1,
  READ_ADDR_MISALIGNED: 4,
  READ_ACCESS_FAULT: 5,
  WRITE_ADDR_MISALIGNED: 6,
  WRITE_ACCESS_FAULT: 7,
  INST_PAGE_FAULT: 12,
  READ_PAGE_FAULT: 13,
  WRITE_PAGE_FAULT: 15,
  INST_GUEST_PAGE_FAULT: 20,
  READ_GUEST_PAGE_FAULT: 21,
  WRITE_GUEST_PAGE_FAULT: 23,
  DMA_DISABLED: 256,
  DDT_LOAD_FAULT: 257,
  DDT_INVALID: 258,
  DDT_MISCONFIGURED: 259,
  TTYP_BLOCKED: 260,
  MSI_LOAD_FAULT: 261,
  MSI_INVALID: 262,
  MSI_MISCONFIGURED: 263,
  MRIF_FAULT: 264,
  PDT_LOAD_FAULT: 265,
  PDT_INVALID: 266,
  PDT_MISCONFIGURED: 267,
  DDT_CORRUPTED: 268,
  PDT_CORRUPTED: 269,
  MSI_PT_CORRUPTED: 270,
  MRIF_CORRUPTED: 271,
  INTERNAL_DP_ERROR: 272,
  MSI_WRITE_FAULT: 273,
  PT_CORRUPTED: 274,
} as const;
export type CauseName = keyof typeof CAUSE;

const EXPLAIN: Record<CauseName, string> = {
  INST_ACCESS_FAULT: 'instruction fetch access fault',
  READ_ADDR_MISALIGNED: 'read address misaligned',
  READ_ACCESS_FAULT: 'read access fault: a first-stage or G-stage table or the page lies outside physical memory',
  WRITE_ADDR_MISALIGNED: 'write/AMO address misaligned',
  WRITE_ACCESS_FAULT: 'write access fault: a first-stage or G-stage table or the page lies outside physical memory',
  INST_PAGE_FAULT: 'instruction page fault',
  READ_PAGE_FAULT: 'read page fault: the first-stage (Sv) walk found no valid readable leaf for the IOVA',
  WRITE_PAGE_FAULT: 'write page fault: the first-stage (Sv) walk found no valid writable leaf for the IOVA',
  INST_GUEST_PAGE_FAULT: 'instruction guest-page fault',
  READ_GUEST_PAGE_FAULT: 'read guest-page fault: the G-stage (Svx4) walk found no valid readable user leaf for the GPA',
  WRITE_GUEST_PAGE_FAULT: 'write guest-page fault: the G-stage (Svx4) walk found no valid writable user leaf for the GPA',
  DMA_DISABLED: 'all inbound transactions disallowed (ddtp.iommu_mode = Off)',
  DDT_LOAD_FAULT: 'DDT entry load access fault',
  DDT_INVALID: 'DDT entry not valid: no device context for this device_id',
  DDT_MISCONFIGURED: 'DDT entry misconfigured: a reserved bit or an unsupported mode in the device context',
  TTYP_BLOCKED: 'transaction type disallowed (PASID without a PDT, device_id or process_id too wide, ATS not enabled)',
  MSI_LOAD_FAULT: 'MSI PTE load access fault (not modelled: no MSI page tables)',
  MSI_INVALID: 'MSI PTE not valid (not modelled)',
  MSI_MISCONFIGURED: 'MSI PTE misconfigured (not modelled)',
  MRIF_FAULT: 'MRIF access fault (not modelled)',
  PDT_LOAD_FAULT: 'PDT entry load access fault: the process directory lies outside physical memory',
  PDT_INVALID: 'PDT entry not valid: no process context for this process_id',
  PDT_MISCONFIGURED: 'PDT entry misconfigured: a reserved bit or an unsupported iosatp mode in the process context',
  DDT_CORRUPTED: 'DDT data corruption (not modelled)',
  PDT_CORRUPTED: 'PDT data corruption (not modelled)',
  MSI_PT_CORRUPTED: 'MSI page table data corruption (not modelled)',
  MRIF_CORRUPTED: 'MRIF data corruption (not modelled)',
  INTERNAL_DP_ERROR: 'internal data path error (not modelled)',
  MSI_WRITE_FAULT: 'IOMMU MSI write access fault (not modelled)',
  PT_CORRUPTED: 'first/second-stage page table data corruption (not modelled)',
};

export const FAULT_CATALOGUE: readonly FaultDescription[] = (Object.keys(CAUSE) as CauseName[]).map((name) => ({ code: CAUSE[name], name, explain: EXPLAIN[name] }));

export function causeName(code: number): CauseName | undefined {
  return (Object.keys(CAUSE) as CauseName[]).find((n) => CAUSE[n] === code);
}
