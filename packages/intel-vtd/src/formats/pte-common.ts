import { PAGE_SIZE } from '@ioasid/core';

/**
 * What both VT-d paging formats share: 4 KiB pages, 9 index bits per level, 8-byte entries,
 * output address in bits 51:12 (Linux drivers/iommu/intel/iommu.h VTD_PAGE_SHIFT/VTD_STRIDE_SHIFT,
 * QEMU intel_iommu_internal.h VTD_LEVEL_BITS).
 */
export const VTD_PAGE_SHIFT = 12;
export const VTD_LEVEL_BITS = 9;
export const VTD_PAGE_BYTES = PAGE_SIZE;

/** Address bits 31:12 of an entry's low word and 51:32 of its high word. */
export const ADDR_LO_MASK = 0xfffff000;
export const ADDR_HI_MASK = 0x000fffff;

/** Host address width of the unit: physical addresses are below 2^HAW (DMAR HAW). */
export const VTD_HAW = 48;

/** High-word mask of address bits 51:haw (reserved in every entry that holds an address). */
export function hiAboveHaw(haw: number): number {
  return (ADDR_HI_MASK & ~((1 << (haw - 32)) - 1)) >>> 0;
}

/** Engine levels are 0-based (0 = 4 KiB leaves); the specification numbers them 1 (PT) … 5 (PML5). */
export const LEVEL_NAMES = ['PTE', 'PDE', 'PDPE', 'PML4E', 'PML5E'] as const;
