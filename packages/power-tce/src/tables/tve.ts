import { fieldMaskBig, getFieldBig, ibmField, setFieldBig } from '@ioasid/core';
import { ilog2 } from '../log2.js';

/**
 * IODA3 TVT entry (TVE), as skiboot include/phb4-regs.h names the fields and hw/phb4.c
 * phb4_map_pe_dma_window fills them, and as QEMU hw/pci-host/pnv_phb4.c pnv_phb4_translate_tve
 * decodes them.
 */
/** Top-level TCE table address >> 12. */
export const IODA3_TVT_TABLE_ADDR = ibmField('IODA3_TVT_TABLE_ADDR', 0, 47);
/** Number of TCE levels minus one (0 = 1 level … 4 = 5 levels). */
export const IODA3_TVT_NUM_LEVELS = ibmField('IODA3_TVT_NUM_LEVELS', 48, 50);
/** log2(bytes of one table level) - 11; 0 marks the TVE invalid. */
export const IODA3_TVT_TCE_TABLE_SIZE = ibmField('IODA3_TVT_TCE_TABLE_SIZE', 51, 55);
export const IODA3_TVT_NON_TRANSLATE_50 = fieldMaskBig(ibmField('IODA3_TVT_NON_TRANSLATE_50', 56));
/** log2(IO page size) - 11 (1 = 4K, 5 = 64K, 10 = 2M, 19 = 1G); 0 = untranslated. */
export const IODA3_TVT_IO_PSIZE = ibmField('IODA3_TVT_IO_PSIZE', 59, 63);

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
  let v = setFieldBig(0n, IODA3_TVT_TABLE_ADDR, p.tableAddr >> 12n);
  v = setFieldBig(v, IODA3_TVT_TCE_TABLE_SIZE, BigInt(ilog2(p.tableSize) - 11));
  v = setFieldBig(v, IODA3_TVT_IO_PSIZE, BigInt(p.pageShift - 11));
  return setFieldBig(v, IODA3_TVT_NUM_LEVELS, BigInt(p.levels - 1));
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
  /** Valid, at most TVE_MAX_LEVELS levels and IO_PSIZE 0: a non-translate (bypass) TVE (tve-real.ts). */
  bypass: boolean;
}

export function decodeTve(raw: bigint): DecodedTve {
  const tts = Number(getFieldBig(raw, IODA3_TVT_TCE_TABLE_SIZE));
  const psize = Number(getFieldBig(raw, IODA3_TVT_IO_PSIZE));
  const levels = Number(getFieldBig(raw, IODA3_TVT_NUM_LEVELS)) + 1;
  const levelBits = tts + 8;
  const pageShift = psize === 0 ? 0 : psize + 11;
  return {
    raw,
    valid: tts !== 0,
    tableAddr: getFieldBig(raw, IODA3_TVT_TABLE_ADDR) << 12n,
    levels,
    tableSizeField: tts,
    ioPsizeField: psize,
    nonTranslate50: (raw & IODA3_TVT_NON_TRANSLATE_50) !== 0n,
    levelBits,
    pageShift,
    windowShift: pageShift === 0 ? 0 : levelBits * levels + pageShift,
    bypass: tts !== 0 && levels <= TVE_MAX_LEVELS && psize === 0,
  };
}

