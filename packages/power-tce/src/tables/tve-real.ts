import { fieldMaskBig, getFieldBig, ibmField, setFieldBig, type BitField } from '@ioasid/core';
import { IODA3_TVT_NON_TRANSLATE_50 } from './tve.js';

/**
 * A TVE with IO_PSIZE 0 does not translate (QEMU pnv_phb4_translate_tve: "IO page size 0 means
 * untranslated"): the bus address goes to memory as a real address. skiboot
 * phb4_map_pe_dma_window_real (OPAL_PCI_MAP_PE_DMA_WINDOW_REAL) and tve_encode_50b_noxlate build
 * it, and the comment in its CAPI set-up states the rule: in 50-bit non-translate mode
 * (TVE[56], IODA3_TVT_NON_TRANSLATE_50) the TVE holds a range, in 16 MiB units of bus address
 * bits 49:24, and the PHB lets a DMA through only when start <= addr[49:24] < end. TVE[51] must be
 * set, which also makes TCE_TABLE_SIZE non-zero (the TVE valid). Without TVE[56] nothing is range
 * checked (skiboot phb4_p2p_set_initiator writes TVE[51] alone for "no range checking").
 *
 * The field names below are this model's; skiboot names them only by bit number.
 */
/** Start address bits 47:24 in TVE[0:23], bits 49:48 in TVE[52:53]. */
export const TVE_REAL_START_LO = ibmField('TVE_REAL_START_LO', 0, 23);
export const TVE_REAL_START_HI = ibmField('TVE_REAL_START_HI', 52, 53);
/** End address (exclusive) bits 47:24 in TVE[24:47], bits 49:48 in TVE[54:55]. */
export const TVE_REAL_END_LO = ibmField('TVE_REAL_END_LO', 24, 47);
export const TVE_REAL_END_HI = ibmField('TVE_REAL_END_HI', 54, 55);
/** TVE[51], the top bit of TCE_TABLE_SIZE: must be 1 in non-translate mode. */
export const TVE_REAL_VALID = fieldMaskBig(ibmField('TVE_REAL_VALID', 51));

/** The range check works on 16 MiB units (bus address bits 49:24). */
export const TVE_REAL_UNIT_SHIFT = 24;
/** Bus address bits a non-translate TVE passes on as the real address (QEMU masks with 0x0003fffffffff000). */
export const TVE_REAL_ADDR_BITS = 50;
/** skiboot refuses a window ending above this (phb4_map_pe_dma_window_real). */
export const TVE_REAL_MAX_END = 0x0003ffffffffffffn;

const UNIT_LO_BITS = 24n;
const LO_MASK = (1n << UNIT_LO_BITS) - 1n;

/** The 50-bit non-translate TVE for bus addresses [start, end) (bits 49:24 of each; tve_encode_50b_noxlate). */
export function encodeRealModeTve(start: bigint, end: bigint): bigint {
  const s = (start >> BigInt(TVE_REAL_UNIT_SHIFT)) & 0x3ffffffn;
  const e = (end >> BigInt(TVE_REAL_UNIT_SHIFT)) & 0x3ffffffn;
  let v = setFieldBig(0n, TVE_REAL_START_LO, s & LO_MASK);
  v = setFieldBig(v, TVE_REAL_START_HI, s >> UNIT_LO_BITS);
  v = setFieldBig(v, TVE_REAL_END_LO, e & LO_MASK);
  v = setFieldBig(v, TVE_REAL_END_HI, e >> UNIT_LO_BITS);
  return v | TVE_REAL_VALID | IODA3_TVT_NON_TRANSLATE_50;
}

export interface RealModeRange {
  /** Whether the PHB checks the range at all (TVE[56]). */
  checked: boolean;
  /** First and one-past-last 16 MiB unit (bus address bits 49:24). */
  startUnit: number;
  endUnit: number;
}

export function decodeRealModeRange(raw: bigint): RealModeRange {
  const unit = (lo: BitField, hi: BitField) =>
    Number((getFieldBig(raw, hi) << UNIT_LO_BITS) | getFieldBig(raw, lo));
  return {
    checked: (raw & IODA3_TVT_NON_TRANSLATE_50) !== 0n,
    startUnit: unit(TVE_REAL_START_LO, TVE_REAL_START_HI),
    endUnit: unit(TVE_REAL_END_LO, TVE_REAL_END_HI),
  };
}
