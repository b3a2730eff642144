import {
  PROT_READ,
  PROT_WRITE,
  frameHi,
  frameLo,
  toFrame,
  type DecodedEntry,
  type EntryKind,
  type PtFormat,
} from '@ioasid/core';
import { ADDR_HI_MASK, ADDR_LO_MASK, VTD_HAW, hiAboveHaw, LEVEL_NAMES, VTD_LEVEL_BITS, VTD_PAGE_SHIFT } from './pte-common.js';

/**
 * VT-d first-level (first-stage) paging entry: the x86-64 IA-32e paging format, as Linux
 * drivers/iommu/intel/iommu.h (DMA_FL_PTE_PRESENT/US/ACCESS/DIRTY/XD, DMA_PTE_WRITE for R/W) and
 * QEMU hw/i386/intel_iommu_internal.h (VTD_FL_P, VTD_FL_RW, VTD_FL_US, VTD_FL_A, VTD_FL_D,
 * VTD_PT_PAGE_SIZE_MASK, VTD_FS_UPPER_IGNORED, VTD_FPTE_*_RSVD_MASK) define it.
 */
export const FL_P = 1 << 0;
export const FL_RW = 1 << 1;
export const FL_US = 1 << 2;
export const FL_PWT = 1 << 3;
export const FL_PCD = 1 << 4;
export const FL_A = 1 << 5;
export const FL_D = 1 << 6;
/** Page size in a PDE/PDPE; PAT in a 4 KiB PTE. */
export const FL_PS = 1 << 7;
export const FL_PAT_4K = 1 << 7;
export const FL_G = 1 << 8;
/** PAT of a 2 MiB / 1 GiB page (bit 12). */
export const FL_PAT_LARGE = 1 << 12;
/** Execute-disable, bit 63 (high word bit 31). */
export const FL_XD_HI = 0x80000000;

export type FirstLevelLevels = 4 | 5;

/** Input address bits a first-level table translates (canonical width): 48 or 57. */
export function flInputBits(levels: FirstLevelLevels): number {
  return levels === 4 ? 48 : 57;
}

/** The PASID entry's FLPM field: 0 = 4-level, 1 = 5-level (QEMU VTD_PE_GET_FL_LEVEL). */
export function flpmForLevels(levels: FirstLevelLevels): number {
  return levels - 4;
}

/** Reserved low-word bits: PS in a PML4E/PML5E; bits 20:13 / 29:13 below a 2 MiB / 1 GiB page. */
export function flReservedLo(level: number, leaf: boolean): number {
  if (leaf) return level === 1 ? 0x001fe000 : level === 2 ? 0x3fffe000 : 0;
  return level >= 3 ? FL_PS : 0;
}

export interface FirstLevelOptions {
  levels: FirstLevelLevels;
  /** CAP_REG.FL1GP: 1 GiB first-level pages. */
  fl1gp?: boolean;
  haw?: number;
}

export class FirstLevelFormat implements PtFormat {
  readonly name: string;
  readonly levels: number;
  readonly pageShift = VTD_PAGE_SHIFT;
  readonly bigEndian = false;
  readonly fl1gp: boolean;
  readonly haw: number;
  /** As second level: address bits 51:HAW are reserved in every entry (QEMU VTD_FPTE_*_RSVD_MASK, VTD_HAW_MASK). */
  readonly outputBits: number;
  private readonly rsvdHi: number;

  constructor(opts: FirstLevelOptions) {
    this.levels = opts.levels;
    this.fl1gp = opts.fl1gp ?? true;
    this.haw = opts.haw ?? VTD_HAW;
    this.outputBits = this.haw;
    this.rsvdHi = hiAboveHaw(this.haw);
    this.name = `vtd-first-level-${this.levels}`;
  }

  /** The bindable-format object GET_INFO lists for this table. */
  get bindFormat(): { kind: 'vtd-first-level'; levels: FirstLevelLevels } {
    return { kind: 'vtd-first-level', levels: this.levels as FirstLevelLevels };
  }

  levelBits(): number {
    return VTD_LEVEL_BITS;
  }

  /** VT-d numbers levels from the leaf up, 1 = PTE … 5 = PML5E (Linux pfn_to_dma_pte's `level`). */
  specLevel(level: number): number {
    return level + 1;
  }

  leafAllowed(level: number): boolean {
    return level === 0 || level === 1 || (level === 2 && this.fl1gp);
  }

  isLeaf(lo: number, level: number): boolean {
    return level === 0 || ((lo & FL_PS) !== 0 && this.leafAllowed(level));
  }

  kind(w: Uint32Array, i: number, level: number): EntryKind {
    const lo = w[i];
    if ((lo & FL_P) === 0) return 0 as EntryKind;
    return (this.isLeaf(lo, level) ? 2 : 1) as EntryKind;
  }

  outFrame(w: Uint32Array, i: number, level: number): number {
    let lo = w[i] & ADDR_LO_MASK;
    if (level > 0 && this.isLeaf(w[i], level)) lo &= ~FL_PAT_LARGE;
    return toFrame(lo >>> 0, w[i + 1] & ADDR_HI_MASK);
  }

  perms(w: Uint32Array, i: number): number {
    const lo = w[i];
    return lo & FL_P ? PROT_READ | (lo & FL_RW ? PROT_WRITE : 0) : 0;
  }

  setTable(w: Uint32Array, i: number, _level: number, childFrame: number): void {
    // As Linux writes first-level directory entries: present, writable, user, accessed.
    w[i] = (frameLo(childFrame) | FL_P | FL_RW | FL_US | FL_A) >>> 0;
    w[i + 1] = frameHi(childFrame);
  }

  setLeaf(w: Uint32Array, i: number, level: number, frame: number, prot: number): void {
    // Privilege: user access (U/S = 1); A and D preset as Linux does, so the walker never has to write them.
    const write = (prot & PROT_WRITE) !== 0;
    const bits = FL_P | FL_US | FL_A | (write ? FL_RW | FL_D : 0) | (level > 0 ? FL_PS : 0);
    w[i] = (frameLo(frame) | bits) >>> 0;
    w[i + 1] = frameHi(frame);
  }

  clear(w: Uint32Array, i: number): void {
    w[i] = 0;
    w[i + 1] = 0;
  }

  /** Whether a present entry sets a reserved bit (QEMU vtd_flpte_nonzero_rsvd); bits 63:52 are ignored. */
  reserved(lo: number, hi: number, level: number): boolean {
    const leaf = this.isLeaf(lo, level);
    if (!leaf && level === 2 && (lo & FL_PS) !== 0) return true; // 1 GiB page without FL1GP
    return (lo & flReservedLo(level, leaf)) !== 0 || (hi & this.rsvdHi) !== 0;
  }

  dirty(w: Uint32Array, i: number): boolean {
    return (w[i] & FL_D) !== 0;
  }

  clearDirty(w: Uint32Array, i: number): void {
    w[i] = (w[i] & ~FL_D) >>> 0;
  }

  decode(lo: number, hi: number, level: number): DecodedEntry {
    const leaf = (lo & FL_P) !== 0 && this.isLeaf(lo, level);
    const fields: DecodedEntry['fields'] = {
      level: LEVEL_NAMES[level] ?? `L${level + 1}`,
      P: (lo & FL_P) !== 0,
      RW: (lo & FL_RW) !== 0,
      US: (lo & FL_US) !== 0,
      PWT: (lo & FL_PWT) !== 0,
      PCD: (lo & FL_PCD) !== 0,
      A: (lo & FL_A) !== 0,
      D: (lo & FL_D) !== 0,
      PS: level > 0 && (lo & FL_PS) !== 0,
      G: (lo & FL_G) !== 0,
      PAT: level === 0 ? (lo & FL_PAT_4K) !== 0 : leaf && (lo & FL_PAT_LARGE) !== 0,
      XD: (hi & FL_XD_HI) !== 0,
    };
    if ((lo & FL_P) === 0) return { kind: 'empty', fields };
    let alo = lo & ADDR_LO_MASK;
    if (leaf && level > 0) alo &= ~FL_PAT_LARGE;
    const addr = (BigInt(hi & ADDR_HI_MASK) << 32n) | BigInt(alo >>> 0);
    fields.ADDR = addr;
    if (this.reserved(lo, hi, level)) return { kind: 'invalid', addr, fields };
    return { kind: leaf ? 'leaf' : 'table', addr, fields };
  }
}
