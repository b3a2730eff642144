import type { TraceFieldValue, TraceRead } from '@ioasid/core';
import { FL_A, FL_D, FL_G, FL_P, FL_PAT_4K, FL_PAT_LARGE, FL_PCD, FL_PS, FL_PWT, FL_RW, FL_US, FL_XD_HI, type FirstLevelFormat, flReservedLo } from '../formats/first-level.js';
import { ADDR_HI_MASK, ADDR_LO_MASK, hiAboveHaw } from '../formats/pte-common.js';
import { SL_A, SL_D, SL_EMT_MASK, SL_EMT_SHIFT, SL_IPAT, SL_PS, SL_R, SL_SNP, SL_W, SL_X } from '../formats/second-level.js';
import { FR } from './fault-reasons.js';

/**
 * Trace records of paging-entry reads (core TraceRead), named as the VT-d specification names the
 * entries (§9.7 first-stage: PML5E, PML4E, PDPE, PDE, PTE as in x86-64 paging; §9.8 second-stage:
 * SS-PML5E … SS-PTE), levels numbered 5 … 1 as the specification does. Made only while tracing.
 */
const FS_NAMES = ['PTE', 'PDE', 'PDPE', 'PML4E', 'PML5E'] as const;
const SS_NAMES = ['SS-PTE', 'SS-PDE', 'SS-PDPE', 'SS-PML4E', 'SS-PML5E'] as const;
const PAGE = ['4 KiB', '2 MiB', '1 GiB'] as const;

export const FIRST_STAGE = 'first-stage';
export const SECOND_STAGE = 'second-stage';

const word = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
const hex = (v: bigint): string => `0x${v.toString(16)}`;
const bit = (v: number, b: number): boolean => (v & b) !== 0;

/** The output address field (bits 51:12); a large first-stage leaf keeps PAT in bit 12, not in the address. */
function addrOf(lo: number, hi: number, patLarge: boolean): bigint {
  const alo = (lo & ADDR_LO_MASK & (patLarge ? ~FL_PAT_LARGE : ~0)) >>> 0;
  return (BigInt(hi & ADDR_HI_MASK) << 32n) | BigInt(alo);
}

/** The reserved bits a first-stage entry sets (FirstLevelFormat.reserved, as a mask to show). */
function fsReserved(fmt: FirstLevelFormat, lo: number, hi: number, level: number): bigint {
  const leaf = fmt.isLeaf(lo, level);
  let rlo = lo & flReservedLo(level, leaf);
  if (!leaf && level === 2 && bit(lo, FL_PS)) rlo |= FL_PS; // a 1 GiB page without CAP.FL1GP
  return word(rlo, hi & hiAboveHaw(fmt.haw));
}

function fsDecided(fmt: FirstLevelFormat, level: number, lo: number, hi: number, code: number, leaf: boolean): string {
  switch (code) {
    case 0:
      if (leaf) return level === 0 ? `P = 1: maps a ${PAGE[0]} page` : `PS = 1: maps a ${PAGE[level]} page`;
      return level >= 3 ? 'P = 1: next table' : 'PS = 0: next table';
    case FR.FS_PAGING_ENTRY_P: return 'P = 0';
    case FR.FS_PAGING_ENTRY_US: return 'U/S = 0 (a user request)';
    case FR.SM_WRITE: return 'R/W = 0 (a write)';
    case FR.FS_PAGING_ENTRY_RSVD: return `reserved bits ${hex(fsReserved(fmt, lo, hi, level))} set`;
    case FR.NESTED_FS_PAGING_ENTRY_WRITE: return `A = ${bit(lo, FL_A) ? 1 : 0}, D = ${bit(lo, FL_D) ? 1 : 0}: the update needs write access the second stage does not grant to this table`;
  }
  return `fault 0x${code.toString(16)}`;
}

/**
 * A first-stage entry the walk read at host address `pa`: `level` 0-based, `code` the fault it
 * decided (0 when the walk goes on or ends on it as a leaf).
 */
export function firstStageRead(fmt: FirstLevelFormat, level: number, pa: number, index: number, lo: number, hi: number, code: number, leaf: boolean): TraceRead {
  const large = leaf && level > 0;
  const fields: Record<string, TraceFieldValue> = {
    P: bit(lo, FL_P),
    'R/W': bit(lo, FL_RW),
    'U/S': bit(lo, FL_US),
    PWT: bit(lo, FL_PWT),
    PCD: bit(lo, FL_PCD),
    A: bit(lo, FL_A),
    D: bit(lo, FL_D),
    PS: level > 0 && bit(lo, FL_PS),
    G: bit(lo, FL_G),
    PAT: level === 0 ? bit(lo, FL_PAT_4K) : large && bit(lo, FL_PAT_LARGE),
    XD: bit(hi, FL_XD_HI),
    ADDR: addrOf(lo, hi, large),
  };
  return {
    structure: FS_NAMES[level],
    stage: FIRST_STAGE,
    level: level + 1,
    index,
    addr: BigInt(pa),
    raw: [word(lo, hi)],
    fields,
    decided: fsDecided(fmt, level, lo, hi, code, leaf),
  };
}

function ssDecided(level: number, lo: number, code: number, leaf: boolean, reserved: bigint): string {
  const rw = `R = ${bit(lo, SL_R) ? 1 : 0}, W = ${bit(lo, SL_W) ? 1 : 0}`;
  switch (code) {
    case 0:
      if (leaf) return level === 0 ? `${rw}: maps a ${PAGE[0]} page` : `PS = 1: maps a ${PAGE[level]} page`;
      return level >= 3 ? `${rw}: next table` : 'PS = 0: next table';
    case FR.SS_PAGING_ENTRY_P: return 'R = 0 and W = 0';
    case FR.SM_READ: return 'R = 0 (a read)';
    case FR.SM_WRITE: return 'W = 0 (a write)';
    case FR.SS_PAGING_ENTRY_RSVD: return `reserved bits ${hex(reserved)} set`;
  }
  return `fault 0x${code.toString(16)}`;
}

/**
 * A second-stage entry the walk read in table frame `table`: `code` as for firstStageRead;
 * `rsvdLo` / `rsvdHi` the reserved bits it sets (they decided SS_PAGING_ENTRY_RSVD).
 */
export function secondStageRead(level: number, table: number, index: number, lo: number, hi: number, code: number, leaf: boolean, rsvdLo: number, rsvdHi: number): TraceRead {
  const fields: Record<string, TraceFieldValue> = {
    R: bit(lo, SL_R),
    W: bit(lo, SL_W),
    X: bit(lo, SL_X),
    EMT: (lo & SL_EMT_MASK) >>> SL_EMT_SHIFT,
    IPAT: bit(lo, SL_IPAT),
    PS: bit(lo, SL_PS),
    A: bit(lo, SL_A),
    D: bit(lo, SL_D),
    SNP: bit(lo, SL_SNP),
    ADDR: addrOf(lo, hi, false),
  };
  return {
    structure: SS_NAMES[level],
    stage: SECOND_STAGE,
    level: level + 1,
    index,
    addr: BigInt(table * 4096 + index * 8),
    raw: [word(lo, hi)],
    fields,
    decided: ssDecided(level, lo, code, leaf, word(rsvdLo, rsvdHi)),
  };
}
