/**
 * VMSAv8-64 translation table descriptor fields (Arm ARM D8.3), as Linux
 * drivers/iommu/io-pgtable-arm.c names them (ARM_LPAE_PTE_*). Defined once here; the table
 * builder (lpae.ts) and the hardware walker (hw/lpae-walk.ts) both use these.
 *
 * A descriptor is 64 bits stored little-endian: `lo` is bits 31:0 and `hi` bits 63:32.
 */

/** Bits 1:0: 0b11 = table (levels 0-2) or page (level 3), 0b01 = block (levels 1-2). */
export const DESC_TYPE_MASK = 0x3;
export const DESC_VALID = 0x1;
export const DESC_TYPE_TABLE = 0x3;
export const DESC_TYPE_PAGE = 0x3;
export const DESC_TYPE_BLOCK = 0x1;

// ---- leaf (block/page) attributes, low word ----------------------------------------------
/** Stage 1 AttrIndx[2:0], bits 4:2: index into MAIR. */
export const S1_ATTRINDX_SHIFT = 2;
export const S1_ATTRINDX_MASK = 0x7;
/** Stage 1 NS, bit 5. */
export const S1_NS = 1 << 5;
/** Stage 1 AP[1] (bit 6): EL0 (unprivileged) access allowed — ARM_LPAE_PTE_AP_UNPRIV. */
export const S1_AP_UNPRIV = 1 << 6;
/** Stage 1 AP[2] (bit 7): read-only — ARM_LPAE_PTE_AP_RDONLY. */
export const S1_AP_RDONLY = 1 << 7;
/** Stage 2 MemAttr[3:0], bits 5:2. */
export const S2_MEMATTR_SHIFT = 2;
export const S2_MEMATTR_MASK = 0xf;
export const S2_MEMATTR_OIWB = 0xf;
export const S2_MEMATTR_NC = 0x5;
export const S2_MEMATTR_DEV = 0x1;
/** Stage 2 S2AP[1:0], bits 7:6: bit 6 read (ARM_LPAE_PTE_HAP_READ), bit 7 write (HAP_WRITE). */
export const S2_AP_READ = 1 << 6;
export const S2_AP_WRITE = 1 << 7;
/** SH[1:0], bits 9:8. */
export const SH_SHIFT = 8;
export const SH_MASK = 0x3;
export const SH_NS = 0;
export const SH_OS = 2;
export const SH_IS = 3;
/** AF, bit 10: access flag. */
export const AF = 1 << 10;
/** nG, bit 11 (stage 1 only). */
export const S1_NG = 1 << 11;

// ---- upper attributes, high word (bit n of the descriptor is bit n-32 of `hi`) -----------
/** DBM, bit 51. */
export const HI_DBM = 1 << (51 - 32);
/** Contiguous hint, bit 52. */
export const HI_CONT = 1 << (52 - 32);
/** Stage 1 PXN, bit 53. */
export const HI_S1_PXN = 1 << (53 - 32);
/** Stage 1 UXN / XN, bit 54. */
export const HI_S1_UXN = 1 << (54 - 32);
/** Stage 2 XN[1:0], bits 54:53 (ARM_LPAE_PTE_XN covers both). */
export const HI_S2_XN_SHIFT = 53 - 32;
export const HI_S2_XN_MASK = 0x3;

// ---- table descriptor attributes (stage 1), high word ------------------------------------
/** PXNTable, bit 59. */
export const HI_PXNTABLE = 1 << (59 - 32);
/** UXNTable / XNTable, bit 60. */
export const HI_XNTABLE = 1 << (60 - 32);
/** APTable[1:0], bits 62:61: bit 61 = no EL0 access below, bit 62 = no write below. */
export const HI_APTABLE_NO_EL0 = 1 << (61 - 32);
export const HI_APTABLE_RDONLY = 1 << (62 - 32);
/** NSTable, bit 63. */
export const HI_NSTABLE = 1 << (63 - 32);

/**
 * Output address: bits 47:granule hold the address (48-bit OA). Bits 50:48 are RES0 with a
 * 48-bit PA; the walker treats them as address bits so a set bit gives an Address size fault.
 * Bit 51 is not an address bit: DBM in a block or page descriptor, IGNORED in a table descriptor
 * (Arm ARM D8.3; without FEAT_LPA2, OA[51:48] sits elsewhere, in bits 15:12 with FEAT_LPA).
 */
export const OA_HI_MASK = 0x7ffff; // bits 50:32 of the descriptor
export const OA_HI_BITS_48 = 0xffff; // bits 47:32

/** Output address of a descriptor in bytes (number), for granule shift `gshift`. */
export function descOutAddr(lo: number, hi: number, gshift: number): number {
  const low = lo - (lo % 2 ** gshift); // bits 31:gshift (lo is unsigned)
  return (hi & OA_HI_MASK) * 2 ** 32 + (low >>> 0);
}
