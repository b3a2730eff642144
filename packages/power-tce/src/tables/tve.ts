import { getField, ilog2, ppcBit, ppcBitmask, setField } from '../ppc-bits.js';

/**
 * IODA3 TVT entry (TVE), as skiboot include/phb4-regs.h names the fields and hw/phb4.c
 * phb4_map_pe_dma_window fills them, and as QEMU hw/pci-host/pnv_phb4.c pnv_phb4_translate_tve
 * decodes them.
 */
/** Top-level TCE table address >> 12. */
export const IODA3_TVT_TABLE_ADDR = ppcBitmask(0, 47);
/** Number of TCE levels minus one (0 = 1 level … 4 = 5 levels). */
export const IODA3_TVT_NUM_LEVELS = ppcBitmask(48, 50);
/** log2(bytes of one table level) - 11; 0 marks the TVE invalid. */
export const IODA3_TVT_TCE_TABLE_SIZE = ppcBitmask(51, 55);
export const IODA3_TVT_NON_TRANSLATE_50 = ppcBit(56);
/** log2(IO page size) - 11 (1 = 4K, 5 = 64K, 10 = 2M, 19 = 1G); 0 = untranslated. */
export const IODA3_TVT_IO_PSIZE = ppcBitmask(59, 63);

export const TVE_MAX_LEVELS = 5;
/** IO page sizes PHB4 firmware encodes (phb4_map_pe_dma_window; "ibm,supported-tce-sizes" 12, 16, 21, 30). */
export const PHB4_TCE_PAGE_SHIFTS = [12, 16, 21, 30] as const;
/** Bit 59 of the bus address picks TVE 2·PE or 2·PE+1 (skiboot "2 TVEs per PE" mode). */
export const TVE_SELECT_SHIFT = 59;
/** Bus address where the second TVE's window (the dynamic DMA window) starts. */
export const DDW_BUS_BASE = 1n << BigInt(TVE_SELECT_SHIFT);
/** Bus addresses with bits 63:60 non-zero are not DMA (bit 60: 64-bit MSI region). */
export const DMA_ADDR_LIMIT = 1n << 60n;

export function tveIndex(pe: number, select: number): number {
  return pe * 2 + select;
}

export interface TveProgram {
  tableAddr: bigint;
  levels: number;
  /** Bytes of one level (the whole table when there is one level), a power of two >= 4 KiB. */
  tableSize: bigint;
  pageShift: number;
}

export function encodeTve(p: TveProgram): bigint {
  let v = setField(IODA3_TVT_TABLE_ADDR, 0n, p.tableAddr >> 12n);
  v = setField(IODA3_TVT_TCE_TABLE_SIZE, v, BigInt(ilog2(p.tableSize) - 11));
  v = setField(IODA3_TVT_IO_PSIZE, v, BigInt(p.pageShift - 11));
  return setField(IODA3_TVT_NUM_LEVELS, v, BigInt(p.levels - 1));
}

export interface DecodedTve {
  raw: bigint;
  /** TCE_TABLE_SIZE != 0. */
  valid: boolean;
  tableAddr: bigint;
  /** Field value + 1. */
  levels: number;
  tableSizeField: number;
  ioPsizeField: number;
  nonTranslate50: boolean;
  /** Index bits per level (TCE_TABLE_SIZE + 8). */
  levelBits: number;
  /** log2 of the IO page size (IO_PSIZE + 11), 0 when untranslated. */
  pageShift: number;
  /** log2 of the bus range the table translates. */
  windowShift: number;
}

export function decodeTve(raw: bigint): DecodedTve {
  const tts = Number(getField(IODA3_TVT_TCE_TABLE_SIZE, raw));
  const psize = Number(getField(IODA3_TVT_IO_PSIZE, raw));
  const levels = Number(getField(IODA3_TVT_NUM_LEVELS, raw)) + 1;
  const levelBits = tts + 8;
  const pageShift = psize === 0 ? 0 : psize + 11;
  return {
    raw,
    valid: tts !== 0,
    tableAddr: getField(IODA3_TVT_TABLE_ADDR, raw) << 12n,
    levels,
    tableSizeField: tts,
    ioPsizeField: psize,
    nonTranslate50: (raw & IODA3_TVT_NON_TRANSLATE_50) !== 0n,
    levelBits,
    pageShift,
    windowShift: pageShift === 0 ? 0 : levelBits * levels + pageShift,
  };
}

