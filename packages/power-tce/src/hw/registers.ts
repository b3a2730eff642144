import { addrField, fieldMaskBig, ibmField } from '@ioasid/core';

/** A one-bit flag as skiboot's PPC_BIT(n) mask (the code ORs and tests flags as masks). */
const flag = (name: string, n: number): bigint => fieldMaskBig(ibmField(name, n));

/**
 * PHB4 register offsets and fields (skiboot include/phb4-regs.h; QEMU hw/pci-host/pnv_phb4.c uses
 * the same names). Only the registers this model implements are listed.
 */
export const PHB_RTT_BAR = 0x168;
export const PHB_RTT_BAR_ENABLE = flag('PHB_RTT_BAR_ENABLE', 0);
/** Holds the RID translation table's address bits 55:17 in place (128 KiB aligned). */
export const PHB_RTT_BASE_ADDRESS = addrField(ibmField('PHB_RTT_BASE_ADDRESS', 8, 46));

export const PHB_RTC_INVALIDATE = 0x208;
export const PHB_RTC_INVALIDATE_ALL = flag('PHB_RTC_INVALIDATE_ALL', 0);
export const PHB_RTC_INVALIDATE_RID = ibmField('PHB_RTC_INVALIDATE_RID', 16, 31);

export const PHB_TCE_KILL = 0x210;
export const PHB_TCE_KILL_ALL = flag('PHB_TCE_KILL_ALL', 0);
export const PHB_TCE_KILL_PE = flag('PHB_TCE_KILL_PE', 1);
export const PHB_TCE_KILL_ONE = flag('PHB_TCE_KILL_ONE', 2);
export const PHB_TCE_KILL_PSEL = flag('PHB_TCE_KILL_PSEL', 3);
/** Page-size override in address bits 13:12 when PSEL is set (skiboot phb4_tce_kill). */
export const PHB_TCE_KILL_PSIZE_MASK = 0x3000n;
export const PHB_TCE_KILL_64K = 0x1000n;
export const PHB_TCE_KILL_2M = 0x2000n;
export const PHB_TCE_KILL_1G = 0x3000n;
export const PHB_TCE_KILL_PENUM = ibmField('PHB_TCE_KILL_PENUM', 55, 63);

export const PHB_IODA_ADDR = 0x220;
export const PHB_IODA_AD_AUTOINC = flag('PHB_IODA_AD_AUTOINC', 0);
export const PHB_IODA_AD_TSEL = ibmField('PHB_IODA_AD_TSEL', 11, 15);
export const PHB_IODA_AD_TADR = ibmField('PHB_IODA_AD_TADR', 54, 63);
export const PHB_IODA_DATA0 = 0x228;

/** Read-only capability register; skiboot phb4_read_capabilities takes max PEs from bits 63:52. */
export const PHB_PHB4_EEH_CAP = 0x268;
export const PHB_PHB4_EEH_CAP_MAX_PES_SHIFT = 52n;
/** Value QEMU returns for a "big" PHB4 (512 PEs). */
export const PHB4_EEH_CAP_512_PES = 0x2000000000000000n;

/** IODA3 on-chip tables selected by PHB_IODA_AD_TSEL. */
export const IODA3_TBL_PESTA = 7;
export const IODA3_TBL_PESTB = 8;
export const IODA3_TBL_TVT = 9;
/** PE error vector: one bit per PE, PPC_BIT(pe & 63) of entry pe / 64. */
export const IODA3_TBL_PEEV = 20;

export const IODA3_PESTA_MMIO_FROZEN = flag('IODA3_PESTA_MMIO_FROZEN', 0);
export const IODA3_PESTB_DMA_STOPPED = flag('IODA3_PESTB_DMA_STOPPED', 0);

/** Register names as registers() reports them. */
export const REGISTER_NAMES: Record<number, string> = {
  [PHB_RTT_BAR]: 'PHB_RTT_BAR',
  [PHB_RTC_INVALIDATE]: 'PHB_RTC_INVALIDATE',
  [PHB_TCE_KILL]: 'PHB_TCE_KILL',
  [PHB_IODA_ADDR]: 'PHB_IODA_ADDR',
  [PHB_IODA_DATA0]: 'PHB_IODA_DATA0',
  [PHB_PHB4_EEH_CAP]: 'PHB_PHB4_EEH_CAP',
};

/** The registers the model implements, by the name MMIO read(name)/write(name, value) take. */
export type PhbRegName = 'PHB_RTT_BAR' | 'PHB_RTC_INVALIDATE' | 'PHB_TCE_KILL' | 'PHB_IODA_ADDR' | 'PHB_IODA_DATA0' | 'PHB_PHB4_EEH_CAP';

/** Offset of each register name (the inverse of REGISTER_NAMES). */
export const PHB_REGISTER_OFFSET: Readonly<Record<PhbRegName, number>> = {
  PHB_RTT_BAR,
  PHB_RTC_INVALIDATE,
  PHB_TCE_KILL,
  PHB_IODA_ADDR,
  PHB_IODA_DATA0,
  PHB_PHB4_EEH_CAP,
};
