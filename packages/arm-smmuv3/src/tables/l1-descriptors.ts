import { addrField, dwField } from '@ioasid/core';

/**
 * Level-1 descriptors of the two-level stream table and CD table (8 bytes each).
 * L1STD: Span[4:0], L2Ptr[51:6] (Linux STRTAB_L1_DESC_SPAN / STRTAB_L1_DESC_L2PTR_MASK,
 * QEMU L1STD_SPAN / l1std_l2ptr). L1CD: V[0], L2Ptr[51:12] (Linux CTXDESC_L1_DESC_V /
 * CTXDESC_L1_DESC_L2PTR_MASK).
 */
export const L1_DESC_BYTES = 8;

export const L1STD = {
  Span: dwField('Span', 0, 4, 0),
} as const;
export const L1STD_L2PTR = addrField(dwField('L1STD_L2PTR', 0, 51, 6));

export const L1CD = {
  V: dwField('V', 0, 0),
} as const;
export const L1CD_L2PTR = addrField(dwField('L1CD_L2PTR', 0, 51, 12));

/** Linux STRTAB_SPLIT: 2-level stream tables with 256 STEs (one PCI bus) per L2 table. */
export const STRTAB_SPLIT = 8;
/** CDs per leaf table for S1Fmt 0b10 (64KB leaves, Linux CTXDESC_L2_ENTRIES) and 0b01 (4KB). */
export const CD_SPLIT_64K = 10;
export const CD_SPLIT_4K = 6;
